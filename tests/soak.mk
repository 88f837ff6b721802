#  The soak, included by the top Makefile; not part of `make test`.
#
#  make soak   churns connections against one proxy for SOAK_MINUTES
#              (default 10): hundreds of live pairs of libzmq clients and
#              workers that come and go, and garbage peers; then checks
#              that every message on a pair that stayed up came back
#              intact, that the proxy's tables are empty, that its memory
#              is back near where it started, and that it exits cleanly.
#              SOAK_CLIENTS, SOAK_WORKERS, SOAK_SLOTS, SOAK_SEED tune it
#              (see tests/soak/soak.c).
#
#  Uses BUILD, CC, CFLAGS, LDFLAGS, LDLIBS and HARNESS_OBJ from the top
#  Makefile.

SOAK_BIN     := $(BUILD)/tests/soak
SOAK_MINUTES ?= 10

.PHONY: soak

$(SOAK_BIN): tests/soak/soak.c $(HARNESS_OBJ) tests/integration/sq_harness.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests/integration $(LDFLAGS) $< $(HARNESS_OBJ) -o $@ $(LDLIBS)

soak: deps
	@$(MAKE) --no-print-directory all $(SOAK_BIN)
	SQ_BUILD=$(BUILD) SOAK_MINUTES=$(SOAK_MINUTES) $(SOAK_BIN)
