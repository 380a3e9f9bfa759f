# duroxide for PostgreSQL -- PGXS build
#
#   make && make install          build and install (as root)
#   make installcheck             all three test tiers, each on its own
#                                 temporary instance with duroxide preloaded
#                                 (run as a non-root user, e.g. postgres)
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
	src/replay.o \
	src/activity.o \
	src/client.o \
	src/jsonc.o \
	src/util.o \
	src/registry.o \
	src/worker.o

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

# TAP: test/t/*.pl with PostgreSQL::Test::Cluster
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso results regression.diffs regression.out log \
	duroxide-*.zip duroxide-*.tar.gz

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
src/worker.o: $(srcdir)/duroxide.control
