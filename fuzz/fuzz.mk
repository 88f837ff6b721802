#  Fuzzing, included by the top Makefile. Needs clang and its libFuzzer
#  runtime (Debian: clang libclang-rt-14-dev); the normal build does not.
#
#  make fuzz        builds the libFuzzer targets into build-fuzz/ and runs
#                   each for FUZZ_SECONDS (default 20) on a scratch copy of
#                   its seeds; fails on any finding
#  make fuzz-long   the same for FUZZ_SECONDS (default 600) each, then keeps
#                   the new inputs that add coverage in build-fuzz/new/<target>/
#  make fuzz-build  builds the targets only
#
#  The replay tests $(BUILD)/tests/test_fuzz_<target> are built with the
#  normal compiler and flags and run with the unit tests (make test, make
#  test-asan): each runs fuzz/corpus/<target>/ and fuzz/regressions/<target>/
#  through its target once.
#
#  Uses CC, CFLAGS, LDFLAGS, LDLIBS, BUILD, CORE_SRC, CORE_OBJ and UNIT_BIN
#  from the top Makefile.

FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_TARGETS  := greeting control routes frames
FUZZ_CC       ?= clang
FUZZ_BUILD    ?= build-fuzz
#  Longest input per target: a greeting is 64 bytes, a route file line 1 KiB
FUZZ_MAX_LEN_greeting := 256
FUZZ_MAX_LEN_control  := 4096
FUZZ_MAX_LEN_routes   := 8192
FUZZ_MAX_LEN_frames   := 4096
#  FUZZ_SECONDS, when given, sets the budget per target of both runs
FUZZ_SHORT_SECONDS := $(or $(FUZZ_SECONDS),20)
FUZZ_LONG_SECONDS  := $(or $(FUZZ_SECONDS),600)

FUZZ_CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
                 -Wstrict-prototypes -Wmissing-prototypes -g -O1 -Isrc \
                 -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_COMMON   := fuzz/sq_fuzz.c fuzz/sq_fuzz.h
FUZZ_CORE_OBJ := $(CORE_SRC:src/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_RUN_ARGS  = $(FUZZ_BUILD) $(foreach t,$(FUZZ_TARGETS),$(t):$(FUZZ_MAX_LEN_$(t)))

.PHONY: fuzz fuzz-long fuzz-build fuzz-clean

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@fuzz/run.sh $(FUZZ_SHORT_SECONDS) $(FUZZ_RUN_ARGS)

fuzz-long: $(FUZZ_BINS)
	@fuzz/run.sh --keep-new $(FUZZ_LONG_SECONDS) $(FUZZ_RUN_ARGS)

$(FUZZ_BUILD)/obj:
	mkdir -p $@

#  The core gets coverage counters for libFuzzer and the sanitizers
$(FUZZ_BUILD)/obj/%.o: src/%.c src/*.h | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_BINS): $(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_COMMON) $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    $< fuzz/sq_fuzz.c $(FUZZ_CORE_OBJ) -o $@ $(LDLIBS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

clean: fuzz-clean

#  The replay tests, one per target, run with the unit tests
FUZZ_REPLAY_BIN := $(FUZZ_TARGETS:%=$(BUILD)/tests/test_fuzz_%)
UNIT_BIN        += $(FUZZ_REPLAY_BIN)

$(FUZZ_REPLAY_BIN): $(BUILD)/tests/test_fuzz_%: fuzz/fuzz_%.c fuzz/sq_fuzz_replay.c \
        $(FUZZ_COMMON) $(CORE_OBJ) tests/sq_test.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -DSQ_FUZZ_TARGET='"$*"' $(LDFLAGS) fuzz/sq_fuzz_replay.c $< \
	    fuzz/sq_fuzz.c $(CORE_OBJ) -o $@ $(LDLIBS)

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
