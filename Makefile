# mayfly - disposable Linux sandboxes for CI jobs and agents.
#
#   make            build build/mayfly
#   make demo       install what is missing, build, run the example job in a sandbox
#   make test       install what is missing, build, run every test (unit under ASan+UBSan,
#                   integration, fuzz replay); ends with "N passed, N failed, N skipped"
#   make check      unit tests and fuzz replay only (no privileges needed)
#   make check-integ  integration tests (namespaces, cgroups; root or userns)
#   make bench      benchmarks against peers, with ratios
#   make install    PREFIX=/usr/local DESTDIR=
#   make format | check-format | tidy | cppcheck | check-headers | fuzz
#   make SAN=address,undefined ...   sanitizer build (into build-san/)

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= gcc
SAN ?=

ifeq ($(SAN),)
BUILD ?= build
else
BUILD ?= build-san
endif

PKGS := libseccomp libarchive libsodium libcjson libgit2
# Debian packages the build, the tests and the benchmarks need.
DEB_BUILD := gcc make pkg-config libc6-dev libseccomp-dev libarchive-dev libsodium-dev \
	libcjson-dev libgit2-dev libcurl4-openssl-dev libyaml-dev
DEB_TEST := iproute2 util-linux procps bubblewrap crun python3 tar gzip postgresql redis-server git openssl lighttpd lighttpd-mod-openssl curl openssh-server openssh-client
DEB_DEMO := util-linux postgresql redis-server

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla -Wmissing-prototypes \
	-Wstrict-prototypes -Wimplicit-fallthrough -Wno-unused-parameter -Wno-format-truncation
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu17 -D_GNU_SOURCE $(WARN) $(HARDEN) $(CFLAGS) -Irunner \
	-DMAYFLY_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS_HARD := -pie -Wl,-z,relro,-z,now
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# mayfly itself loads libarchive only when it unpacks an image (runner/archive/dl.h), and
# libgit2 only for a checkout (runner/checkout/dl.h).
MAYFLY_LIBS := $(shell pkg-config --libs libseccomp libsodium libcjson 2>/dev/null)
ifneq ($(SAN),)
ALL_CFLAGS += -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_HARD += -fsanitize=$(SAN)
endif

LIB_SRCS := $(filter-out runner/cli/main.c,$(wildcard runner/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/*/test-*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(BUILD)/%)
INTEG_SRCS := $(wildcard tests/integ/test-*.c)
INTEG_BINS := $(INTEG_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:%.c=$(BUILD)/%-replay)
# A benchmark is benchmarks/NAME.c, with its parts, if any, in benchmarks/NAME-*.c.
BENCH_SRCS := $(filter-out $(wildcard benchmarks/*-*.c),$(wildcard benchmarks/*.c))
BENCH_BINS := $(BENCH_SRCS:%.c=$(BUILD)/%)
HEADERS := $(wildcard runner/*/*.h)

# Test objects are intermediate files: keep them, so a rebuild is incremental.
.SECONDARY:

.PHONY: all deps deps-test deps-demo demo test check check-unit check-integ check-fuzz bench install \
	uninstall format check-format tidy cppcheck check-headers fuzz clean tests

all: $(BUILD)/mayfly

$(BUILD)/%.o: %.c $(HEADERS) $(wildcard tests/lib/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib -c $< -o $@

$(BUILD)/libmayfly.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mayfly: $(BUILD)/runner/cli/main.o $(BUILD)/libmayfly.a
	$(CC) $(LDFLAGS_HARD) -Wl,--as-needed $^ $(MAYFLY_LIBS) -o $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(TESTLIB_OBJS) $(BUILD)/libmayfly.a $(wildcard tests/unit/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib $(LDFLAGS_HARD) $< $(TESTLIB_OBJS) $(BUILD)/libmayfly.a $(LIBS) -o $@

$(BUILD)/tests/integ/%: tests/integ/%.c $(TESTLIB_OBJS) $(BUILD)/libmayfly.a \
		$(wildcard tests/integ/*.h tests/integ/probes/*.h tests/unit/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/lib $(LDFLAGS_HARD) $< $(TESTLIB_OBJS) $(BUILD)/libmayfly.a $(LIBS) -o $@

$(BUILD)/tests/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)/libmayfly.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_HARD) $< tests/fuzz/replay.c $(BUILD)/libmayfly.a $(LIBS) -o $@

.SECONDEXPANSION:
$(BUILD)/benchmarks/%: benchmarks/%.c $$(wildcard benchmarks/$$*-*.c) $(wildcard benchmarks/*.h) \
		$(BUILD)/libmayfly.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_HARD) $(filter %.c,$^) $(BUILD)/libmayfly.a $(LIBS) -o $@

$(BUILD)/tests/tools/enosys: tests/tools/enosys.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_HARD) $< $(LIBS) -o $@

tests: $(BUILD)/mayfly $(UNIT_BINS) $(INTEG_BINS) $(FUZZ_REPLAY) $(BUILD)/tests/tools/enosys

# Install the Debian packages that are missing (apt-get update once, then install).
deps:
	@tests/tools/install-deps $(DEB_BUILD)
deps-test:
	@tests/tools/install-deps $(DEB_BUILD) $(DEB_TEST)
deps-demo:
	@tests/tools/install-deps $(DEB_BUILD) $(DEB_DEMO)

check-unit: $(UNIT_BINS)
	@tests/tools/run-tests $(UNIT_BINS)

check-fuzz: $(FUZZ_REPLAY)
	@tests/tools/run-tests $(FUZZ_REPLAY)

check: $(UNIT_BINS) $(FUZZ_REPLAY)
	@tests/tools/run-tests $(UNIT_BINS) $(FUZZ_REPLAY)

check-integ: $(BUILD)/mayfly $(INTEG_BINS)
	@MAYFLY_BIN=$(abspath $(BUILD)/mayfly) tests/tools/run-tests $(INTEG_BINS)

# The README's test command: everything, with one summary line at the end.
test: deps-test
	@echo "mayfly: building (plain, and with ASan+UBSan for the unit tests)"
	@$(MAKE) -s --no-print-directory SAN=address,undefined BUILD=build-san tests
	@$(MAKE) -s --no-print-directory tests
	@MAYFLY_BIN=$(abspath build/mayfly) MAYFLY_ENOSYS_BIN=$(abspath build/tests/tools/enosys) \
		tests/tools/run-tests --rootless \
		$(UNIT_SRCS:%.c=build-san/%) $(FUZZ_SRCS:%.c=build-san/%-replay) \
		$(INTEG_SRCS:%.c=build/%)

demo: deps-demo
	@$(MAKE) --no-print-directory all
	@examples/demo/run.sh $(abspath $(BUILD)/mayfly)

bench: deps-test $(BUILD)/mayfly $(BENCH_BINS)
	@MAYFLY_BIN=$(abspath $(BUILD)/mayfly) benchmarks/run-all $(BUILD)

install: $(BUILD)/mayfly
	install -D -m 0755 $(BUILD)/mayfly $(DESTDIR)$(PREFIX)/bin/mayfly
	install -D -m 0644 docs/mayfly.1 $(DESTDIR)$(PREFIX)/share/man/man1/mayfly.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/mayfly $(DESTDIR)$(PREFIX)/share/man/man1/mayfly.1

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(C_FILES)
check-format:
	clang-format --dry-run --Werror $(C_FILES)
tidy:
	clang-tidy --quiet $(LIB_SRCS) runner/cli/main.c -- $(filter-out -Wno-format-truncation,$(ALL_CFLAGS))
cppcheck:
	cppcheck --quiet --enable=warning,portability,performance --inline-suppr \
		--error-exitcode=1 -Irunner --suppress=missingIncludeSystem $(LIB_SRCS) runner/cli/main.c
check-headers:
	@for h in $(HEADERS); do \
		printf '#include "%s"\n' "$${h#runner/}" | \
		$(CC) $(ALL_CFLAGS) -x c -fsyntax-only - || exit 1; done; echo "headers ok"
fuzz:
	@tests/tools/build-fuzzers

clean:
	rm -rf build build-san
