# duroxide for PostgreSQL -- PGXS build
#
#   make && make install          build and install (as root)
#   make installcheck             all three test tiers, each on its own
#                                 temporary instance with duroxide preloaded
#                                 (run as a non-root user, e.g. postgres)
#   make installcheck-nopreload   test/nopreload on a temporary instance
#                                 WITHOUT duroxide preloaded
#   make valgrind-check           the pg_regress files with the server under
#                                 valgrind memcheck (after make install)
#   make dist                     duroxide-VERSION.zip and .tar.gz of HEAD
#                                 (git archive; VERSION from duroxide.control)
#
# Builds against PostgreSQL 15, 17 and 18 (PG_CONFIG picks the server);
# src/compat.h holds the differences between them.

MODULE_big = duroxide
OBJS = \
	src/duroxide.o \
	src/shmem.o \
	src/launcher.o \
	src/dispatcher.o \
	src/dispatch_claim.o \
	src/dispatch_load.o \
	src/history_cache.o \
	src/dispatch_effects.o \
	src/dispatch_write.o \
	src/replay.o \
	src/turn.o \
	src/durable_api.o \
	src/retry.o \
	src/activity.o \
	src/client.o \
	src/jsonc.o \
	src/util.o \
	src/registry.o \
	src/registration.o \
	src/external.o \
	src/worker.o \
	src/sandbox.o \
	src/protocol.o \
	src/diagram.o \
	src/cron.o \
	src/schedule.o \
	src/suspend.o \
	src/concurrency.o \
	src/spread.o \
	src/simple_expr.o \
	src/replay_fast.o

EXTENSION = duroxide
DATA = $(wildcard src/duroxide--*.sql)
HEADERS_duroxide = src/duroxide.h

# the extension version the library is built for (workers wait until the
# installed extension has it): default_version in duroxide.control
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(dir $(firstword $(MAKEFILE_LIST)))duroxide.control)

PG_CPPFLAGS = -I$(srcdir)/src $(shell pkg-config --cflags json-c 2>/dev/null) -DDX_EXTENSION_VERSION='"$(EXTVERSION)"'
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -Wno-cast-function-type
SHLIB_LINK = $(shell pkg-config --libs json-c 2>/dev/null || echo -ljson-c)

# pg_regress: sql/ + expected/, on a temporary instance with duroxide preloaded
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check --temp-config=$(srcdir)/test/duroxide_test.conf --load-extension=duroxide

# isolation specs: test/isolation/specs + test/isolation/expected
ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --outputdir=./output_iso \
	--temp-instance=./tmp_check_iso --temp-config=$(srcdir)/test/duroxide_iso.conf --load-extension=duroxide

# make valgrind-check runs the same files with the server under valgrind
# (see the target below): its own temporary instance and output directory
ifdef DUROXIDE_VALGRIND
REGRESS_OPTS = --temp-instance=./output_vg/tmp_check --outputdir=./output_vg \
	--temp-config=$(srcdir)/test/duroxide_test.conf --temp-config=$(srcdir)/test/duroxide_valgrind.conf \
	--load-extension=duroxide
endif

# TAP: test/t/*.pl with PostgreSQL::Test::Cluster
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# pg_regress without preloading: test/nopreload/sql + expected, own config
NOPRELOAD = $(patsubst $(srcdir)/test/nopreload/sql/%.sql,%,$(sort $(wildcard $(srcdir)/test/nopreload/sql/*.sql)))
NOPRELOAD_OPTS = --inputdir=$(srcdir)/test/nopreload --outputdir=./output_nopreload \
	--temp-instance=./tmp_check_nopreload --temp-config=$(srcdir)/test/nopreload/nopreload.conf \
	--dbname=contrib_regression

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso results regression.diffs regression.out log \
	tmp_check_nopreload output_nopreload tmp_valgrind output_vg duroxide-*.zip duroxide-*.tar.gz

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# release archives of the committed tree (HEAD), for PGXN and downloads
DISTNAME = duroxide-$(EXTVERSION)
dist:
	@grep -q '"version": "$(EXTVERSION)"' $(srcdir)/META.json || \
		{ echo "META.json does not say version $(EXTVERSION)"; exit 1; }
	git archive --format=zip --prefix=$(DISTNAME)/ -o $(DISTNAME).zip HEAD
	git archive --format=tar.gz --prefix=$(DISTNAME)/ -o $(DISTNAME).tar.gz HEAD
	@echo "$(DISTNAME).zip and $(DISTNAME).tar.gz (from $$(git rev-parse --short HEAD))"
.PHONY: dist

# PGXS does not track header dependencies: every object depends on them all
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# the nopreload tier (scripts/test.sh runs it as its own tier)
.PHONY: installcheck-nopreload
installcheck-nopreload: submake
	$(pg_regress_installcheck) $(NOPRELOAD_OPTS) $(NOPRELOAD)

# make valgrind-check: the pg_regress files (sql/ + expected/) on a temporary
# instance whose postmaster, and every process it forks, runs under valgrind
# memcheck (scripts/valgrind-pg.sh puts a wrapper in a copy of PG_CONFIG's
# installation, duroxide included: run `make install` first).  Fails when a
# test fails or when memcheck reports an error with a frame in duroxide's
# code (scripts/valgrind-report.sh); PostgreSQL's own errors are suppressed
# by test/valgrind.supp.  Per-process logs: tmp_valgrind/logs/<pid>.log.
VALGRIND_DIR = ./tmp_valgrind

valgrind-check:
	rm -rf $(VALGRIND_DIR) ./output_vg
	@vgpg="$$(PG_CONFIG='$(PG_CONFIG)' bash $(srcdir)/scripts/valgrind-pg.sh $(VALGRIND_DIR)/pg $(VALGRIND_DIR)/logs $(srcdir)/test/valgrind.supp)" || exit 1; \
	PGCTLTIMEOUT=600 $(MAKE) installcheck PG_CONFIG="$$vgpg" DUROXIDE_VALGRIND=1 ISOLATION= TAP_TESTS=; rc=$$?; \
	bash $(srcdir)/scripts/valgrind-report.sh $(VALGRIND_DIR)/logs $(srcdir) || rc=1; \
	exit $$rc

.PHONY: valgrind-check

src/worker.o: $(srcdir)/duroxide.control
