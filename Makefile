# twofa-edge: TOTP two-factor authentication at the edge, as an nginx module.
#
#   make          build ngx_http_twofa_module.so and tools/twofa-admin
#   make test     unit, fuzz-seed, integration and browser tests (prove)
#   make demo     run the demo (redis, the stand-in app, nginx) in the
#                 foreground
#   make fuzz     short bounded libFuzzer runs (clang)
#   make bench    benchmarks, one table of ratios
#   make install  copy the module to $(DESTDIR)$(MODULES_DIR)
#   make deb      Debian packages of the module and the CLI, in
#                 $(BUILDDIR)/deb (debhelper; lintian must find no error)
#   make test-dist  the packages built and the integration tests run
#                 against them in clean Debian 12 and 13 roots, and a
#                 build from source tested on sid (tools/test-dist)
#
# Every target first installs the Debian packages it needs that are missing
# (apt-get as root, or sudo).  Nothing is written outside $(BUILDDIR) but
# by install.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

BUILDDIR    ?= build
NGINX_SRC   ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
MODULES_DIR ?= /usr/lib/nginx/modules
CC          ?= cc

B           := $(abspath $(BUILDDIR))
MODULE      := $(B)/nginx/ngx_http_twofa_module.so
ADMIN       := $(B)/twofa-admin

# Debian packages, by what needs them.
DEPS_BUILD  := gcc make libc6-dev nginx nginx-dev libhiredis-dev \
               libqrencode-dev libssl-dev libunistring-dev libjansson-dev
# the real apps of t/45-real-apps.t; php-fpm before dokuwiki in the same
# apt run, or apt satisfies its php with libapache2-mod-php (Apache).
# Names without a version, so Debian 12 (PHP 8.2) and 13 (8.4) alike.
DEPS_APPS   := python3-django gunicorn php-fpm php-cli dokuwiki
# the integration tests' (t/*.t), then the browser walk's (t/50-browser.t)
DEPS_ITEST  := perl redis-server redis-tools oathtool zbar-tools \
               librsvg2-bin curl python3 openssl procps ca-certificates iproute2 \
               groff-base \
               $(DEPS_APPS)
DEPS_TEST   := $(DEPS_ITEST) chromium nodejs:node npm:npm
DEPS_DEMO   := redis-server python3
DEPS_FUZZ   := clang libclang-rt-dev
DEPS_BENCH  := curl wrk redis-server redis-tools oathtool procps valgrind \
               perl
DEPS_DEB    := build-essential debhelper dpkg-dev lintian

# A packager's flags (debian/rules passes dpkg-buildflags'), added to the
# module's and the core's; empty by default.
EXTRA_CFLAGS  ?=
EXTRA_LDFLAGS ?=

CORE_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g -fPIC \
               -Wall -Wextra -Werror -Iinclude $(EXTRA_CFLAGS)
# hiredis: twofa_slots.c reads its replies; the slots test and fuzz target
# build theirs with its reader
CORE_LIBS   := -lcrypto -lqrencode -lunistring -ljansson -lhiredis
CORE_SRCS   := $(wildcard src/twofa_*.c)
CORE_OBJS   := $(patsubst src/%.c,$(B)/core/%.o,$(CORE_SRCS))
CORE_HDRS   := $(wildcard include/twofa_*.h)

NGX_SRCS    := $(wildcard src/ngx_http_twofa*.c src/ngx_http_twofa*.h)

UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_TESTS  := $(patsubst t/unit/%.c,$(B)/t/%.t,$(UNIT_SRCS))

FUZZ_SRCS   := $(wildcard t/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst t/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))
FUZZ_SEED_BINS := $(patsubst t/fuzz/%.c,$(B)/t/%-seeds.t,$(FUZZ_SRCS))
FUZZ_TIME   ?= 20

# Warnings on for the module too; nginx adds -Werror itself.
NGX_CC_OPT  := -g -O2 -fPIC -Wall -Wextra -Wno-unused-parameter \
               -fstack-protector-strong -D_FORTIFY_SOURCE=2 $(EXTRA_CFLAGS)

.PHONY: all module admin deps deps-build deps-test deps-demo deps-fuzz \
        deps-bench test unit fuzz memcheck demo bench install clean \
        deb deps-deb deps-itest test-bins test-dist

all: deps-build module admin

module: $(MODULE)
admin: $(ADMIN)


# --- dependencies -------------------------------------------------------

deps: deps-build deps-test deps-demo deps-fuzz deps-bench

deps-build:
	@tools/install-deps $(DEPS_BUILD)
deps-test:
	@tools/install-deps $(DEPS_BUILD) $(DEPS_TEST)
	@tools/fetch-promtool $(B)/promtool
deps-demo:
	@tools/install-deps $(DEPS_BUILD) $(DEPS_DEMO)
deps-fuzz:
	@tools/install-deps $(DEPS_FUZZ) $(DEPS_BUILD)
deps-bench:
	@tools/install-deps $(DEPS_BUILD) $(DEPS_BENCH)
deps-deb:
	@tools/install-deps $(DEPS_BUILD) $(DEPS_DEB)
deps-itest:
	@tools/install-deps $(DEPS_BUILD) $(DEPS_ITEST)
	@tools/fetch-promtool $(B)/promtool


# --- the module, built against the distribution's nginx -----------------
#
# nginx's configure writes a Makefile into its working directory, so it runs
# in a tree of symlinks to $(NGINX_SRC) under $(BUILDDIR): the system tree
# stays untouched.

$(B)/nginx/Makefile: config $(NGINX_SRC)/conf_flags
	rm -rf $(B)/nginx-src $(B)/nginx
	mkdir -p $(B)/nginx-src
	cp -rs $(NGINX_SRC)/. $(B)/nginx-src/
	cd $(B)/nginx-src && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(EXTRA_LDFLAGS)" \
	        --add-dynamic-module=$(CURDIR) \
	        --builddir=$(B)/nginx > $(B)/configure.log 2>&1 || \
	    { cat $(B)/configure.log; exit 1; }

$(MODULE): $(B)/nginx/Makefile $(NGX_SRCS) $(CORE_SRCS) $(CORE_HDRS)
	$(MAKE) -s -f $(B)/nginx/Makefile -C $(B)/nginx-src modules

# the built-in pages, compiled in; committed, so builds from source need
# no generator
src/ngx_http_twofa_templates.h: $(wildcard templates/*.html) tools/embed
	tools/embed templates $@

# the Redis scripts, compiled in (the module and the CLI share them)
src/twofa_lua.c: $(wildcard lua/*.lua) tools/embed
	tools/embed scripts $@


# --- the pure core, on its own ------------------------------------------

$(B)/core/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(B)/libtwofa_core.a: $(CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(B)/t/%.t: t/unit/%.c t/unit/tap.h $(B)/libtwofa_core.a
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -It/unit $< $(B)/libtwofa_core.a $(CORE_LIBS) -o $@

unit: deps-test $(UNIT_TESTS)
	prove $(UNIT_TESTS)


# --- admin CLI ----------------------------------------------------------

# the file map is atop tools/admin/twofa_admin.h
$(ADMIN): $(wildcard tools/admin/*.c tools/admin/*.h) $(B)/libtwofa_core.a
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) $(EXTRA_LDFLAGS) $(filter %.c,$^) \
	    $(B)/libtwofa_core.a $(CORE_LIBS) -o $@


# --- fuzzing ------------------------------------------------------------
#
# The fuzz targets also build with gcc as seed-corpus replayers (a main()
# in t/fuzz/replay.c), so `make test` runs every seed through them.

$(B)/fuzz/%: t/fuzz/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(@D)
	clang -g -O1 -std=c99 -D_POSIX_C_SOURCE=200809L -Iinclude \
	    -fsanitize=fuzzer,address,undefined $< $(CORE_SRCS) \
	    $(CORE_LIBS) -o $@

$(B)/t/%-seeds.t: t/fuzz/%.c t/fuzz/replay.c $(B)/libtwofa_core.a
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -DTWOFA_CORPUS='"$(CURDIR)/t/fuzz/corpus/$*"' \
	    $< t/fuzz/replay.c $(B)/libtwofa_core.a $(CORE_LIBS) -o $@

fuzz: deps-fuzz $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	    n=$$(basename $$f); \
	    mkdir -p $(B)/fuzz/corpus-$$n; \
	    echo "fuzzing $$n for $(FUZZ_TIME)s"; \
	    $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=0 \
	        -artifact_prefix=$(B)/fuzz/$$n- \
	        $(B)/fuzz/corpus-$$n t/fuzz/corpus/$$n 2>&1 | tail -n 3; \
	done


# --- tests, demo, bench -------------------------------------------------

test: deps-test $(MODULE) $(ADMIN) $(UNIT_TESTS) $(FUZZ_SEED_BINS)
	TWOFA_MODULE=$(MODULE) TWOFA_ADMIN=$(ADMIN) TWOFA_NGINX=$(NGINX) \
	    prove -r $(UNIT_TESTS) $(FUZZ_SEED_BINS) t/

# the integration tests with nginx and its workers under valgrind memcheck
memcheck: deps-test $(MODULE) $(ADMIN)
	@tools/install-deps valgrind
	TWOFA_VALGRIND=1 TWOFA_MODULE=$(MODULE) TWOFA_ADMIN=$(ADMIN) \
	    TWOFA_NGINX=$(NGINX) prove t/10-redis.t t/20-login.t t/21-flows.t \
	        t/24-security.t t/26-audit.t t/27-metrics.t t/28-utf8-identities.t \
	        t/41-sentinel.t t/42-cluster.t t/46-any-app.t t/48-bind.t

demo: deps-demo $(MODULE) $(ADMIN)
	TWOFA_MODULE=$(MODULE) TWOFA_ADMIN=$(ADMIN) TWOFA_NGINX=$(NGINX) demo/run

bench: deps-bench $(MODULE) $(ADMIN) $(B)/libtwofa_core.a
	TWOFA_MODULE=$(MODULE) TWOFA_ADMIN=$(ADMIN) TWOFA_NGINX=$(NGINX) \
	    TWOFA_CORE=$(B)/libtwofa_core.a bench/run

# --- Debian packages, and the tests in clean Debian roots ---------------

deb: deps-deb
	tools/build-deb $(B)/deb

test-dist:
	tools/test-dist $(B)/dist

# everything `make test` runs, built and not run (tools/test-dist on sid)
test-bins: $(MODULE) $(ADMIN) $(UNIT_TESTS) $(FUZZ_SEED_BINS)

install: $(MODULE)
	install -d $(DESTDIR)$(MODULES_DIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(MODULES_DIR)/

clean:
	rm -rf $(B)
