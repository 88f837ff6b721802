#  StreamQ-Proxy build. `make` builds, `make test` builds and runs every test
#  (the integration tests once per engine: SQ_ENGINE=splice make test runs
#  them on that one alone), `make test-asan` runs the same suite under
#  AddressSanitizer and UBSan.

CC       ?= gcc
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?=
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
            -Wstrict-prototypes -Wmissing-prototypes -g $(OPT) -Isrc -Itests
LDLIBS   += $(shell pkg-config --libs libzmq 2>/dev/null || echo -lzmq) -lpthread
ifeq ($(SANITIZE),1)
BUILD    := build-asan
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

#  The core: pure logic, no libzmq socket calls
CORE_SRC := src/sq_log.c src/sq_clock.c src/sq_buf.c src/sq_greeting.c \
            src/sq_conn.c src/sq_balancer.c src/sq_core.c src/sq_json.c \
            src/sq_control.c src/sq_dict.c src/sq_identity.c src/sq_pairing.c src/sq_report.c src/sq_routes.c src/sq_heartbeat.c \
            src/sq_cidr.c src/sq_access.c src/sq_admission.c src/sq_relay.c \
            src/sq_histogram.c src/sq_prometheus.c \
            src/sq_flow.c src/sq_outcome.c src/sq_handshake.c src/sq_liveness.c src/sq_arrival.c \
            src/sq_frame_reader.c src/sq_zmtp_check.c src/sq_bans.c src/sq_tally.c \
            src/sq_options.c src/sq_loop.c src/sq_pipe_pool.c
#  The two engines (ZMQ_STREAM, and the proxy's own TCP
#  sockets), CURVE on the control socket and its guard, the HTTP server of
#  --metrics (libmicrohttpd) and the systemd notifications (libsystemd):
#  the proxy alone links those two
PROXY_SRC := src/sq_net.c src/sq_engine_stream.c \
             src/sq_engine_splice.c src/sq_service.c src/sq_proxy.c src/sq_control_auth.c \
             src/sq_metrics.c \
             src/sq_control_guard.c \
             src/sq_notify.c
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
SYSTEMD_CFLAGS := $(shell pkg-config --cflags libsystemd 2>/dev/null)
SYSTEMD_LIBS   := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
#  Key files and the ZPL reader: in the core for the unit tests, and in
#  streamq-ctl; the configuration file
CORE_SRC  += src/sq_cert.c src/sq_zpl.c src/sq_config.c src/sq_file.c
#  streamq-ctl's JSON reader, tables and list of commands: in the core for
#  the unit tests
CTL_SRC   := src/sq_json_scan.c src/sq_table.c src/sq_command.c
CORE_SRC  += $(CTL_SRC)
CORE_OBJ  := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
PROXY_OBJ := $(PROXY_SRC:src/%.c=$(BUILD)/obj/%.o)

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
HARNESS_OBJ := $(BUILD)/obj/sq_harness.o
EXAMPLES  := $(BUILD)/curve_worker $(BUILD)/curve_client

PREFIX   ?= /usr/local
DESTDIR  ?=

.PHONY: all deps test-deps run test test-unit test-integration test-asan install clean

all: $(BUILD)/streamq-proxy $(BUILD)/streamq-ctl $(EXAMPLES)

deps:
	@scripts/deps.sh

#  What the tests need besides: promtool, for the alert rules; python3-zmq;
#  HAProxy, in front of the proxies of test_cluster and make demo-cluster
test-deps:
	@scripts/deps.sh test

#  Installs what is missing, builds, and runs the proxy with its defaults
run: deps
	@$(MAKE) --no-print-directory all
	exec $(BUILD)/streamq-proxy

$(BUILD)/obj/%.o: src/%.c src/*.h | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/sq_harness.o: tests/integration/sq_harness.c tests/integration/sq_harness.h | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD) $(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

$(BUILD)/obj/sq_metrics.o: CFLAGS += $(MHD_CFLAGS)
$(BUILD)/obj/sq_notify.o: CFLAGS += $(SYSTEMD_CFLAGS)
$(BUILD)/streamq-proxy: LDLIBS += $(MHD_LIBS) $(SYSTEMD_LIBS)
$(BUILD)/streamq-proxy: src/main.c $(CORE_OBJ) $(PROXY_OBJ) | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.c %.o,$^) -o $@ $(LDLIBS)

$(BUILD)/streamq-ctl: src/streamq_ctl.c $(BUILD)/obj/sq_cert.o $(BUILD)/obj/sq_zpl.o \
        $(BUILD)/obj/sq_file.o \
        $(BUILD)/obj/sq_log.o \
        $(CTL_SRC:src/%.c=$(BUILD)/obj/%.o) \
        src/sq_version.h | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.c %.o,$^) -o $@ $(LDLIBS)

$(BUILD)/%: examples/%.c | $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(CORE_OBJ) tests/sq_test.h $(wildcard tests/unit/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(CORE_OBJ) -o $@ $(LDLIBS)

$(BUILD)/tests/test_%: tests/integration/test_%.c $(HARNESS_OBJ) $(wildcard tests/*.h) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(HARNESS_OBJ) -o $@ $(LDLIBS)

#  Test binaries run at once (tests/run.sh's SQ_JOBS). The tests mostly
#  wait, on the timers and quiet periods they check, so more than the
#  machine's cores is fine; TEST_JOBS=1 runs them one after the other,
#  each report printed as it ends.
TEST_JOBS ?= 4
export SQ_JOBS = $(TEST_JOBS)

test-unit: test-deps
	@$(MAKE) --no-print-directory $(UNIT_BIN)
	@tests/run.sh $(UNIT_BIN)

test-integration: test-deps
	@$(MAKE) --no-print-directory all $(INTEG_BIN)
	@SQ_BUILD=$(BUILD) tests/run.sh --engines $(INTEG_BIN)

#  Builds and runs every test
test: test-deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(INTEG_BIN)
	@SQ_BUILD=$(BUILD) tests/run.sh $(UNIT_BIN) --engines $(INTEG_BIN)

test-asan:
	@$(MAKE) --no-print-directory SANITIZE=1 test

clean:
	rm -rf build build-asan

#  libstreamq, the peer library, and its test
include lib/lib.mk

#  make install, make uninstall (PREFIX, DESTDIR): programs, libstreamq,
#  its header and pkg-config file, man pages, the systemd unit
include dist/install.mk

#  Benchmarks (not part of `make test`): make bench, bench-quick, bench-scale, bench-core
include bench/bench.mk

#  libFuzzer targets (need clang): make fuzz, fuzz-long; their replay tests run with make test
include fuzz/fuzz.mk

#  Memory checks and the soak (not part of `make test`): make test-valgrind, make soak
include tests/valgrind.mk tests/soak.mk

#  The cluster behind HAProxy: make demo-cluster (and the build of test_cluster)
include tests/cluster.mk

#  The OPTIONS list of the manual page, from the option table: the lines
#  between its BEGIN OPTIONS and END OPTIONS markers are what
#  `streamq-proxy --help-man` prints (test_options checks they match)
.PHONY: man
man: $(BUILD)/streamq-proxy
	@$(BUILD)/streamq-proxy --help-man > $(BUILD)/options.man
	@awk -v block=$(BUILD)/options.man \
	    '/^\.\\" END OPTIONS$$/ { skip = 0 } \
	     !skip { print } \
	     /^\.\\" BEGIN OPTIONS$$/ { while ((getline line < block) > 0) print line; skip = 1 }' \
	    doc/streamq-proxy.1 > $(BUILD)/streamq-proxy.1
	@mv $(BUILD)/streamq-proxy.1 doc/streamq-proxy.1
	@echo "doc/streamq-proxy.1: OPTIONS from the option table"
