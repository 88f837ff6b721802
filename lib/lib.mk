#  libstreamq, the peer library: a make fragment for the top Makefile
#  (`include lib/lib.mk`, best at its end). Uses its CC, CFLAGS, LDFLAGS,
#  LDLIBS, BUILD and HARNESS_OBJ, so `make SANITIZE=1` builds the library
#  with the sanitizers into build-asan/ like everything else.
#
#    $(BUILD)/libstreamq.a    static library
#    $(BUILD)/libstreamq.so.$(LIB_VERSION)   shared library, soname
#                             libstreamq.so.$(LIB_SOMAJOR), with the symlinks
#                             libstreamq.so.$(LIB_SOMAJOR) and libstreamq.so
#    $(BUILD)/libstreamq.pc   pkg-config file for PREFIX (default /usr/local)
#                             and LIBDIR (default PREFIX/lib)
#    $(BUILD)/tests/test_libstreamq   its integration test
#    $(BUILD)/tests/test_libstreamq_multi   one socket at several proxies
#    $(BUILD)/tests/test_liveness     disconnection strategies (links it too)
#    $(BUILD)/tests/test_control_auth CURVE on the control socket (links it too)
#    $(BUILD)/curve_worker, $(BUILD)/curve_client   the examples, which use it
#    make lib                 the three library files

#  Rules defined here must not become the default goal if this file is
#  included before the first rule of the Makefile
LIB_SAVED_GOAL := $(.DEFAULT_GOAL)

PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
#  The library's version, from STREAMQ_VERSION_MAJOR, _MINOR and _PATCH in
#  its header; the major number is the soname's, raised when the ABI
#  changes incompatibly
LIB_VERSION := $(shell sed -n 's/^.define STREAMQ_VERSION_[A-Z]* *\([0-9][0-9]*\)$$/\1/p' \
                 include/streamq.h | paste -sd. -)
LIB_SOMAJOR := $(firstword $(subst ., ,$(LIB_VERSION)))
LIB_SONAME  := libstreamq.so.$(LIB_SOMAJOR)
LIB_SRC     := lib/streamq.c
LIB_OBJ     := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
LIB_HEADER  := include/streamq.h
LIB_CFLAGS  := -fPIC -Iinclude
#  The integration tests that link the library, so run its code themselves
LIB_TESTS   := $(BUILD)/tests/test_libstreamq $(BUILD)/tests/test_libstreamq_multi \
               $(BUILD)/tests/test_liveness $(BUILD)/tests/test_control_auth
LIB_FILES   := $(BUILD)/libstreamq.a $(BUILD)/libstreamq.so.$(LIB_VERSION) \
               $(BUILD)/$(LIB_SONAME) $(BUILD)/libstreamq.so $(BUILD)/libstreamq.pc
#  Writes the pkg-config file from lib/libstreamq.pc.in (stdin to stdout);
#  a LIBDIR or INCLUDEDIR under PREFIX is written relative to ${prefix}
LIB_PC_SED   = sed -e 's|@PREFIX@|$(PREFIX)|g' \
                   -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
                   -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
                   -e 's|@VERSION@|$(LIB_VERSION)|g'

.PHONY: lib
lib: $(LIB_FILES)
all: $(LIB_FILES)

$(BUILD)/lib:
	mkdir -p $@

$(BUILD)/lib/%.o: lib/%.c $(LIB_HEADER) | $(BUILD)/lib
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/libstreamq.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libstreamq.so.$(LIB_VERSION): $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,$(LIB_SONAME) $^ -o $@ $(LDLIBS)

$(BUILD)/$(LIB_SONAME): $(BUILD)/libstreamq.so.$(LIB_VERSION)
	ln -sf libstreamq.so.$(LIB_VERSION) $@

$(BUILD)/libstreamq.so: $(BUILD)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

$(BUILD)/libstreamq.pc: lib/libstreamq.pc.in | $(BUILD)
	$(LIB_PC_SED) < $< > $@

#  Overrides the generic integration test rule: this test links the library,
#  and wraps its zmq_socket_monitor calls (to delay a monitor's stop)
$(BUILD)/tests/test_libstreamq: tests/integration/test_libstreamq.c $(HARNESS_OBJ) \
        $(BUILD)/libstreamq.a $(LIB_HEADER) tests/sq_test.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) -Wl,--wrap=zmq_socket_monitor $< $(HARNESS_OBJ) \
	    $(BUILD)/libstreamq.a -o $@ $(LDLIBS)

#  The same for the test of one socket attached to several proxies
$(BUILD)/tests/test_libstreamq_multi: tests/integration/test_libstreamq_multi.c \
        $(HARNESS_OBJ) $(BUILD)/libstreamq.a $(LIB_HEADER) tests/sq_test.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) $< $(HARNESS_OBJ) $(BUILD)/libstreamq.a \
	    -o $@ $(LDLIBS)

#  The same for the liveness test: its worker processes heartbeat through
#  the library
$(BUILD)/tests/test_liveness: tests/integration/test_liveness.c $(HARNESS_OBJ) \
        $(BUILD)/libstreamq.a $(LIB_HEADER) tests/sq_test.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) $< $(HARNESS_OBJ) $(BUILD)/libstreamq.a \
	    -o $@ $(LDLIBS)

#  The same for the control socket's CURVE test: its peer names itself
#  through a CURVE control socket
$(BUILD)/tests/test_control_auth: tests/integration/test_control_auth.c $(HARNESS_OBJ) \
        $(BUILD)/libstreamq.a $(LIB_HEADER) tests/sq_test.h | $(BUILD)/tests
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) $< $(HARNESS_OBJ) $(BUILD)/libstreamq.a \
	    -o $@ $(LDLIBS)

#  Override the generic example rule: these examples link the library
$(BUILD)/curve_worker: examples/curve_worker.c $(BUILD)/libstreamq.a $(LIB_HEADER) | $(BUILD)
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) $< $(BUILD)/libstreamq.a -o $@ $(LDLIBS)

$(BUILD)/curve_client: examples/curve_client.c $(BUILD)/libstreamq.a $(LIB_HEADER) | $(BUILD)
	$(CC) $(CFLAGS) -Iinclude $(LDFLAGS) $< $(BUILD)/libstreamq.a -o $@ $(LDLIBS)

.DEFAULT_GOAL := $(LIB_SAVED_GOAL)
