#  Installation, included by the top Makefile (after lib/lib.mk).
#
#  make install     builds, then installs under $(DESTDIR)$(PREFIX):
#    $(BINDIR)            streamq-proxy, streamq-ctl
#    $(LIBDIR)            libstreamq.a, libstreamq.so.$(LIB_VERSION) and its
#                         symlinks libstreamq.so.$(LIB_SOMAJOR), libstreamq.so
#    $(LIBDIR)/pkgconfig  libstreamq.pc, for this PREFIX and LIBDIR
#    $(INCLUDEDIR)        streamq.h
#    $(MANDIR)/man1       streamq-proxy.1, streamq-ctl.1
#    $(SYSTEMDUNITDIR)    streamq-proxy.service, running $(BINDIR)/streamq-proxy
#    $(BASHCOMPDIR)       streamq-ctl, its bash completion
#    $(PYTHONDIR)         streamq_peer.py, the Python peer module (on pyzmq):
#                         by default the site directory python3 reads for
#                         PREFIX (Debian: /usr/lib/python3/dist-packages,
#                         or /usr/local/lib/python3.N/dist-packages)
#    $(DOCDIR)            README.md, the Prometheus alert rules and the
#                         Grafana dashboard of dist/, and examples/streamq.cfg
#                         (every option with its default) as
#                         streamq.cfg.example
#    $(DOCDIR)/doc        doc/*.md, beside README.md as in the tree, so
#                         that the links between them work
#  make uninstall   removes those files (same PREFIX, DESTDIR and dirs)
#
#  Every directory can be set on the command line. With DESTDIR (a staging
#  root for packages) nothing else is touched; without it, and as root, the
#  shared library cache is refreshed with $(LDCONFIG) (LDCONFIG=true skips it).
#  The files written for PREFIX (the unit, libstreamq.pc) go straight to
#  their place.
#
#  Uses BUILD, LIB_VERSION, LIB_SOMAJOR, LIB_SONAME and LIB_PC_SED from the
#  top Makefile and lib/lib.mk.

PREFIX         ?= /usr/local
DESTDIR        ?=
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
INCLUDEDIR     ?= $(PREFIX)/include
MANDIR         ?= $(PREFIX)/share/man
DOCDIR         ?= $(PREFIX)/share/doc/streamq-proxy
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions
PYTHON_VERSION := $(shell python3 -c 'import sys; print("%d.%d" % sys.version_info [:2])' 2>/dev/null || echo 3)
PYTHONDIR      ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYTHON_VERSION)/dist-packages)
INSTALL        ?= install
LDCONFIG       ?= ldconfig

INSTALL_MAN    := doc/streamq-proxy.1 doc/streamq-ctl.1
INSTALL_DOC    := README.md dist/streamq-rules.yml dist/streamq-dashboard.json
INSTALL_DOCS   := $(wildcard doc/*.md)
INSTALL_UNIT   := streamq-proxy.service
#  Refreshes the shared library cache after a real (not staged) install or
#  uninstall, as root, where ldconfig exists
INSTALL_LDCONFIG = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] \
    && command -v $(LDCONFIG) >/dev/null 2>&1; then echo $(LDCONFIG); $(LDCONFIG); fi

.PHONY: install uninstall

#  Nothing goes through the build directory, so installs with different
#  PREFIXes may run at once (test_install's runs on both engines do)
install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(DOCDIR)/doc $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(PYTHONDIR)
	$(INSTALL) -m 755 $(BUILD)/streamq-proxy $(BUILD)/streamq-ctl $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(BUILD)/libstreamq.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(BUILD)/libstreamq.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libstreamq.so.$(LIB_VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libstreamq.so
	$(LIB_PC_SED) < lib/libstreamq.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libstreamq.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/libstreamq.pc
	$(INSTALL) -m 644 include/streamq.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(INSTALL_MAN) $(DESTDIR)$(MANDIR)/man1/
	sed 's|@BINDIR@|$(BINDIR)|g' dist/$(INSTALL_UNIT).in > $(DESTDIR)$(SYSTEMDUNITDIR)/$(INSTALL_UNIT)
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$(INSTALL_UNIT)
	$(INSTALL) -m 644 dist/streamq-ctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/streamq-ctl
	$(INSTALL) -m 644 python/streamq_peer.py $(DESTDIR)$(PYTHONDIR)/
	$(INSTALL) -m 644 $(INSTALL_DOC) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/doc/
	$(INSTALL) -m 644 examples/streamq.cfg $(DESTDIR)$(DOCDIR)/streamq.cfg.example
	@$(INSTALL_LDCONFIG)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/streamq-proxy $(DESTDIR)$(BINDIR)/streamq-ctl
	rm -f $(DESTDIR)$(LIBDIR)/libstreamq.a $(DESTDIR)$(LIBDIR)/libstreamq.so \
	    $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libstreamq.so.$(LIB_VERSION)
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/libstreamq.pc
	rm -f $(DESTDIR)$(INCLUDEDIR)/streamq.h
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(INSTALL_MAN)))
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$(INSTALL_UNIT)
	rm -f $(DESTDIR)$(BASHCOMPDIR)/streamq-ctl
	rm -f $(DESTDIR)$(PYTHONDIR)/streamq_peer.py
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INSTALL_DOC)) streamq.cfg.example)
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/doc/,$(notdir $(INSTALL_DOCS)))
	rmdir $(DESTDIR)$(DOCDIR)/doc 2>/dev/null || true
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@$(INSTALL_LDCONFIG)
