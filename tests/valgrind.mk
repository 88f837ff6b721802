#  Memory checks, included by the top Makefile; not part of `make test`.
#
#  make test-valgrind   runs every integration test, with every proxy it
#                       starts under valgrind memcheck, and those that link
#                       libstreamq (LIB_TESTS) under it themselves; then
#                       fails if any of them reported a memory error or a
#                       definite or indirect leak. The other test binaries
#                       are harness code alone, which `make test-asan`
#                       checks; leaving them out keeps the run short.
#
#  Uses BUILD, INTEG_BIN, LIB_TESTS and the `all` goal of the top Makefile. Each proxy
#  writes its valgrind report beside its log, as
#  $(BUILD)/tests/<test>-<n>.valgrind.log. The proxy exits with
#  VALGRIND_EXIT when valgrind found anything, so a test that checks the
#  exit code fails on the spot; tests/valgrind-check.sh then reads every
#  report, which also covers proxies a test killed or did not check.

VALGRIND       ?= valgrind
VALGRIND_EXIT  := 97
#  Under valgrind the proxy runs many times slower: the harness multiplies
#  its bounds (SQ_WAIT_MS, SQ_QUIET_MS) by this
VALGRIND_SCALE ?= 4
VALGRIND_OPTS  := --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --error-exitcode=$(VALGRIND_EXIT) --suppressions=tests/valgrind.supp \
    --num-callers=30
#  Each proxy, by the harness ({log} is the proxy log's path without
#  .proxy.log), and each test binary, by tests/run.sh (%p: its pid)
VALGRIND_PROXY := $(VALGRIND) $(VALGRIND_OPTS) --log-file={log}.valgrind.log
VALGRIND_TEST  := $(VALGRIND) $(VALGRIND_OPTS) --child-silent-after-fork=yes \
    --log-file=$(BUILD)/tests/test-%p.valgrind.log

.PHONY: test-valgrind

test-valgrind: test-deps
	@command -v $(VALGRIND) >/dev/null \
	    || { echo "test-valgrind: $(VALGRIND) is missing (apt-get install valgrind)"; exit 2; }
	@$(MAKE) --no-print-directory all $(INTEG_BIN)
	@rm -f $(BUILD)/tests/*.valgrind.log
	@export SQ_BUILD=$(BUILD) SQ_TIME_SCALE=$(VALGRIND_SCALE) \
	    SQ_PROXY_WRAPPER="$(VALGRIND_PROXY)"; \
	    tests/run.sh --engines $(filter-out $(LIB_TESTS),$(INTEG_BIN)); status=$$?; \
	    SQ_TEST_WRAPPER="$(VALGRIND_TEST)" tests/run.sh --engines $(LIB_TESTS) \
	    || status=1; \
	    tests/valgrind-check.sh $(BUILD)/tests/*.valgrind.log && exit $$status
