# Custos build. `make` builds every program, `make check` runs every test,
# `make demo` issues a certificate from a local Pebble into a SoftHSM2 token,
# `make deps` installs the Debian packages the build and the tests need.
# CC=clang works as well as gcc; SANITIZE=1 builds with ASan and UBSan into
# build-asan/.

CC ?= cc
PKG_CONFIG ?= pkg-config

ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
else
BUILD ?= build
SANFLAGS =
endif

WARNFLAGS = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla \
	-Wmissing-prototypes -Wstrict-prototypes
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARNFLAGS) $(CFLAGS) $(SANFLAGS) \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE -I. \
	$(shell $(PKG_CONFIG) --cflags jansson libcurl p11-kit-1 openssl)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -pie -Wl,-z,relro,-z,now

SIGNER_LIBS = -lp11 -lseccomp $(shell $(PKG_CONFIG) --libs jansson openssl) -ldl
# ldns 1.8.3 in Debian 12 ships no pkg-config file.
BROKER_LIBS = $(shell $(PKG_CONFIG) --libs jansson libcurl libmicrohttpd \
	openssl libidn2 sqlite3) -lldns -lpthread
POLICY_LIBS = -lidn2
AGENT_LIBS = $(shell $(PKG_CONFIG) --libs jansson libcurl openssl)

# Code shared by the programs, each folder named for what it holds.
SHARED_SRC = $(wildcard ipc/*.c logging/*.c encoding/*.c config/*.c)
POLICY_SRC = $(wildcard policy/*.c)
# The signer matches names that the broker already normalised, so it links
# the policy library without policy/idna.c and therefore without libidn2.
POLICY_CORE_SRC = $(filter-out policy/idna.c,$(POLICY_SRC))
# main.c holds each program's main(); the rest is linked into unit tests.
SIGNER_SRC = $(filter-out signer/main.c,$(wildcard signer/*.c))
BROKER_SRC = $(filter-out broker/main.c,$(wildcard broker/*.c))
AGENT_SRC = $(filter-out agent/main.c,$(wildcard agent/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
test_obj = $(patsubst %.c,$(BUILD)/obj-test/%.o,$(1))

SHARED_OBJ = $(call obj,$(SHARED_SRC))
POLICY_OBJ = $(call obj,$(POLICY_SRC))
POLICY_CORE_OBJ = $(call obj,$(POLICY_CORE_SRC))
SIGNER_OBJ = $(call obj,$(SIGNER_SRC))
BROKER_OBJ = $(call obj,$(BROKER_SRC))
AGENT_OBJ = $(call obj,$(AGENT_SRC))

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(patsubst tests/tools/%.c,$(BUILD)/tests/%,$(TOOL_SRC))

PROGRAMS = $(BUILD)/custos $(BUILD)/custos-signer $(BUILD)/custos-agent
TEST_PROGRAMS = $(BUILD)/tests/custos-signer-testbuild $(UNIT_BIN) \
	$(TOOL_BIN)

.PHONY: all check demo deps clean unit integration tests
all: $(PROGRAMS) $(TEST_PROGRAMS) $(BENCH_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The signer's test build adds requests that exist only to test the sandbox.
$(BUILD)/obj-test/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DCUSTOS_TEST_BUILD -MMD -MP -c $< -o $@

$(BUILD)/custos-signer: $(call obj,signer/main.c) $(SIGNER_OBJ) \
		$(POLICY_CORE_OBJ) $(SHARED_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

$(BUILD)/tests/custos-signer-testbuild: $(call test_obj,signer/main.c) \
		$(call test_obj,$(SIGNER_SRC)) $(POLICY_CORE_OBJ) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

$(BUILD)/custos: $(call obj,broker/main.c) $(BROKER_OBJ) $(POLICY_OBJ) \
		$(SHARED_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BROKER_LIBS) $(POLICY_LIBS)

# The agent of serving nodes links only the shared code and its own.
$(BUILD)/custos-agent: $(call obj,agent/main.c) $(AGENT_OBJ) $(SHARED_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

# A unit test named test_signer_* links the signer's code, test_broker_*
# the broker's, test_policy_* the policy library, test_agent_* the
# agent's; every test links the shared code.
$(BUILD)/tests/test_signer_%: $(call obj,tests/unit/test_signer_%.c) \
		$(SIGNER_OBJ) $(POLICY_CORE_OBJ) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

$(BUILD)/tests/test_broker_%: $(call obj,tests/unit/test_broker_%.c) \
		$(BROKER_OBJ) $(POLICY_OBJ) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(BROKER_LIBS) $(POLICY_LIBS)

$(BUILD)/tests/test_policy_%: $(call obj,tests/unit/test_policy_%.c) \
		$(POLICY_OBJ) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS) $(POLICY_LIBS)

$(BUILD)/tests/test_agent_%: $(call obj,tests/unit/test_agent_%.c) \
		$(AGENT_OBJ) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(BUILD)/tests/test_shared_%: $(call obj,tests/unit/test_shared_%.c) \
		$(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

# Small programs that the integration tests drive (PKCS#11 probes, a fake
# broker that speaks to the signer directly, and so on).
$(BUILD)/tests/%: $(call obj,tests/tools/%.c) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

# Benchmark programs; `make bench` runs bench/run.sh, which starts them
# (docs/benchmarks.md). BENCH_ARGS picks sections, such as "signer scale".
BENCH_SRC = $(wildcard bench/*.c)
BENCH_BIN = $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

$(BUILD)/bench/%: $(call obj,bench/%.c) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

# The count of a tenant's store, as the broker makes it.
$(BUILD)/bench/usage_count: $(call obj,bench/usage_count.c \
    broker/store_usage.c) $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

.PHONY: bench
bench: $(PROGRAMS) $(BENCH_BIN)
	BUILD=$(BUILD) bench/run.sh $(BENCH_ARGS)

# Runs every unit and integration test; the last line counts them.
check: all
	BUILD=$(BUILD) tests/run.sh

unit: all
	BUILD=$(BUILD) tests/run.sh unit

integration: all
	BUILD=$(BUILD) tests/run.sh integration

demo: deps all
	BUILD=$(BUILD) tests/lab/demo.sh

deps:
	packaging/install-deps.sh

# libFuzzer harnesses (docs/fuzzing.md): tests/fuzz/fuzz_<area>_<name>.c,
# linked like the unit tests of that area and built with clang, ASan and
# UBSan into build-fuzz/. `make fuzz` runs each for FUZZ_SECONDS and
# `make fuzz-smoke` for FUZZ_SMOKE_SECONDS, both after replaying
# tests/fuzz/regressions/; each prints one result line per harness.
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARNFLAGS) -O1 -g $(FUZZ_SANFLAGS) \
	-fsanitize=fuzzer-no-link -fPIE -I. \
	$(shell $(PKG_CONFIG) --cflags jansson libcurl p11-kit-1 openssl)
FUZZ_LDFLAGS = $(LDFLAGS) $(FUZZ_SANFLAGS) -fsanitize=fuzzer -pie

fuzz_obj = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(1))
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
# The signer's harness replaces the token's key lookup and generation, so
# that requests sign with software keys instead of a token.
FUZZ_SIGNER_WRAP = -Wl,--wrap=token_find_key,--wrap=token_generate_key \
	-Wl,--wrap=token_wrap_key
# Keeps the objects, which only pattern rules name, between runs.
.SECONDARY: $(call fuzz_obj,$(FUZZ_SRC) $(SIGNER_SRC) $(BROKER_SRC) \
	$(POLICY_SRC) $(SHARED_SRC) $(AGENT_SRC))

# A harness that fails to build loses its binary, even an older one, so
# that run.sh reports it and still runs the others.
define fuzz_build_each
	@$(MAKE) -k fuzz-build || for bin in $(FUZZ_BIN); do \
		$(MAKE) -q $$bin || rm -f $$bin; done
endef

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: $(FUZZ_BIN)

fuzz:
	$(fuzz_build_each)
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	$(fuzz_build_each)
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_broker_%: $(call fuzz_obj,tests/fuzz/fuzz_broker_%.c \
		$(BROKER_SRC) $(POLICY_SRC) $(SHARED_SRC))
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(BROKER_LIBS) $(POLICY_LIBS)

$(FUZZ_BUILD)/fuzz_signer_%: $(call fuzz_obj,tests/fuzz/fuzz_signer_%.c \
		$(SIGNER_SRC) $(POLICY_CORE_SRC) $(SHARED_SRC))
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $(FUZZ_SIGNER_WRAP) -o $@ $^ \
		$(SIGNER_LIBS) -lpthread

$(FUZZ_BUILD)/fuzz_policy_%: $(call fuzz_obj,tests/fuzz/fuzz_policy_%.c \
		$(POLICY_SRC) $(SHARED_SRC))
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(SIGNER_LIBS) $(POLICY_LIBS)

$(FUZZ_BUILD)/fuzz_agent_%: $(call fuzz_obj,tests/fuzz/fuzz_agent_%.c \
		$(AGENT_SRC) $(SHARED_SRC))
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(FUZZ_BUILD)/fuzz_shared_%: $(call fuzz_obj,tests/fuzz/fuzz_shared_%.c \
		$(SHARED_SRC))
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(SIGNER_LIBS)

# `make install` copies the three programs and the man pages under
# DESTDIR and PREFIX; the signer goes to LIBEXECDIR, off the PATH, and
# custos starts LIBEXECDIR/custos-signer unless the configuration's
# signer program names another path. `make package` builds the Debian
# packages into build-package/ and `make package-check` tests them
# (docs/packaging.md).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/custos
MANDIR ?= $(PREFIX)/share/man

# The stamp changes only when LIBEXECDIR does, so that `make install
# PREFIX=/usr` after a plain `make` rebuilds the object that holds it.
$(BUILD)/libexecdir.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(LIBEXECDIR)' | cmp -s - $@ || echo '$(LIBEXECDIR)' >$@
$(call obj,broker/signer_client.c): $(BUILD)/libexecdir.stamp
$(call obj,broker/signer_client.c): \
	ALL_CFLAGS += -DCUSTOS_LIBEXECDIR='"$(LIBEXECDIR)"'

.PHONY: FORCE
FORCE:

.PHONY: install package package-check
install: $(PROGRAMS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/custos $(DESTDIR)$(BINDIR)/custos
	install -m 0755 $(BUILD)/custos-signer \
		$(DESTDIR)$(LIBEXECDIR)/custos-signer
	install -m 0755 $(BUILD)/custos-agent $(DESTDIR)$(BINDIR)/custos-agent
	install -m 0644 docs/man/custos.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/man/custos.conf.5 docs/man/custos-policy.5 \
		$(DESTDIR)$(MANDIR)/man5/
	install -m 0644 docs/man/custos-signer.8 docs/man/custos-agent.8 \
		$(DESTDIR)$(MANDIR)/man8/

package:
	packaging/build-package.sh

package-check: package
	packaging/test-package.sh

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
