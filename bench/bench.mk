#  Benchmarks, included by the top Makefile; none of them runs with `make test`.
#
#  make bench         the whole matrix, the scale runs, the stalled reader
#                     and the core (~16 min)
#  make bench-quick   one run each, fewer sizes, a small scale run (~1.5 min)
#  make bench-scale   10 000 idle pairs and the pairing rate only
#  make bench-core    the I/O-free core alone, at 100 .. 100 000 connections
#  make bench-slow    a peer that never reads, under each slow-peer policy (~1 min)
#  make bench-guard   a wrong-key client against a stock 64-slot worker (~15 s)
#  make bench-stall   a worker that reads nothing for 3 s while its client
#                     sends 32 MiB, three times on each engine (~40 s)
#  make bench-busy    the splice engine's yield on and off, beside one and
#                     two processes that compute without sleeping (~4 min)
#
#  Uses BUILD, CC, CFLAGS, LDFLAGS, LDLIBS and CORE_OBJ from the top Makefile.

BENCH_BIN      := $(BUILD)/bench/sq_bench
BENCH_CORE_BIN := $(BUILD)/bench/sq_bench_core
BENCH_GUARD_BIN := $(BUILD)/bench/sq_bench_guard
BENCH_SRC      := bench/sq_bench.c bench/sq_bench_client.c bench/sq_bench_scale.c \
                  bench/sq_bench_slow.c bench/sq_bench_stall.c bench/sq_bench_busy.c \
                  bench/sq_bench_util.c
BENCH_NEEDS    := $(BUILD)/streamq-proxy $(BUILD)/streamq-ctl $(BENCH_BIN)

.PHONY: bench bench-quick bench-scale bench-core bench-slow bench-guard bench-stall bench-busy \
        bench-deps

#  Built with everything else, so they keep compiling; run only on demand
all: $(BENCH_BIN) $(BENCH_CORE_BIN) $(BENCH_GUARD_BIN)

$(BUILD)/bench:
	mkdir -p $@

$(BENCH_BIN): $(BENCH_SRC) bench/sq_bench.h | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) $(BENCH_SRC) -o $@ $(LDLIBS)

#  With the test harness: the real proxy, stock libzmq peers
$(BENCH_GUARD_BIN): bench/sq_bench_guard.c $(HARNESS_OBJ) | $(BUILD)/bench
	$(CC) $(CFLAGS) -Itests/integration $(LDFLAGS) $< $(HARNESS_OBJ) -o $@ $(LDLIBS)

$(BENCH_CORE_BIN): bench/sq_bench_core.c $(CORE_OBJ) | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(CORE_OBJ) -o $@ $(LDLIBS)

#  HAProxy, socat and gnuplot, from apt when they are missing and it can;
#  a contender that stays missing is skipped with a note
bench-deps:
	@bench/deps.sh

#  Prerequisites build left to right: the build dependencies (the top
#  Makefile's deps), the contenders, then the programs
bench: deps bench-deps $(BENCH_NEEDS) $(BENCH_CORE_BIN)
	@BUILD=$(BUILD) bench/run.sh full

bench-quick: deps bench-deps $(BENCH_NEEDS) $(BENCH_CORE_BIN)
	@BUILD=$(BUILD) bench/run.sh quick

bench-scale: deps $(BENCH_NEEDS)
	@BUILD=$(BUILD) bench/run.sh scale

bench-core: deps $(BENCH_CORE_BIN)
	@BUILD=$(BUILD) bench/run.sh core

bench-slow: deps $(BENCH_NEEDS)
	@BUILD=$(BUILD) bench/run.sh slow

bench-busy: deps $(BENCH_NEEDS)
	@BUILD=$(BUILD) bench/run.sh busy

#  One wrong-key client against a stock worker's 64 slots, 11 s; prints a
#  Markdown table row (slots left, good requests served, slots lost,
#  refusals): compare with another build by SQ_BUILD=<its build dir>
bench-guard: deps $(BUILD)/streamq-proxy $(BENCH_GUARD_BIN)
	@echo "| slots | run | slots left | good requests served | slots lost | refused (ban) |"
	@echo "|---:|---:|---:|---:|---:|---:|"
	@SQ_BUILD=$(or $(SQ_BUILD),$(BUILD)) $(BENCH_GUARD_BIN) 64 11
bench-stall: deps $(BENCH_NEEDS)
	@BUILD=$(BUILD) bench/run.sh stall
