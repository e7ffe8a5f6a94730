# swiftmon build. `make run` and `make test` do all the set-up on a fresh
# machine (Debian packages included); see README.md.
SHELL := /bin/bash
SWIFT_BIN ?= $(dir $(shell readlink -f $$(command -v swift)))
BPF_CLANG ?= $(SWIFT_BIN)clang
BPF_OBJCOPY ?= $(SWIFT_BIN)llvm-objcopy
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BUILD := build
BPF_DIR := Sources/SwiftmonLinux/bpf
BPF_SOURCES := $(wildcard $(BPF_DIR)/*.bpf.c)
BPF_HEADERS := $(wildcard $(BPF_DIR)/*.h) Sources/CSwiftmonRecords/include/swiftmon_records.h
SKELETON := Sources/CSensorSkeleton/include/swiftmon_sensor.skel.h
CONFIG ?= release
SWIFT_FLAGS := -c $(CONFIG)
# swiftmon carries the Swift runtime (--static-swift-stdlib): it runs on a
# plain Debian without the toolchain, and the live tests run that binary, the
# one the package ships. The test bundle cannot be linked that way (there is
# no static XCTest): `make test` builds everything once, then links swiftmon
# again with the static runtime in the same build folder (most of the build is
# reused), and runs the tests without building again.
STATIC := --static-swift-stdlib
BINARY := .build/$(CONFIG)/swiftmon
# libssl-dev: syslog over TLS links the system's OpenSSL (Sources/CSwiftmonTLS).
APT_PACKAGES := libbpf-dev libssl-dev bpftool pkg-config python3 util-linux
# The syslog tests start a real rsyslog collector (TCP, unix socket, RELP, TLS
# through rsyslog-gnutls, with certificates made by the openssl command);
# the package tests build, lint and install the .deb; the multi-host import
# test puts sensors in network namespaces (ip, iproute2).
DEB_APT_PACKAGES := dpkg-dev
# bpftrace: AllocationCountTests counts the hot path's allocator calls
# (scripts/bench-allocations.sh).
TEST_APT_PACKAGES := rsyslog rsyslog-relp rsyslog-gnutls openssl lintian iproute2 bpftrace $(DEB_APT_PACKAGES)
PIP_PACKAGES := dissect.etl evtx pysigma pysigma-backend-sqlite

.PHONY: all deps test-deps apt-install bpf build run test deb deb-package bench fuzz fuzz-evtx clean

all: build

# Debian packages the build needs; installed only when missing.
deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"
	@python3 -c 'import dissect.etl, evtx, sigma.backends.sqlite' 2>/dev/null || pip install -q $(PIP_PACKAGES)

apt-install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/vmlinux.h:
	@mkdir -p $(BUILD)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

# The BPF programs: one object, CO-RE, debug info stripped (BTF kept).
$(BUILD)/sensor.bpf.o: $(BPF_SOURCES) $(BPF_HEADERS) $(BUILD)/vmlinux.h
	$(BPF_CLANG) -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) \
	  -Wall -Wno-default-const-init-var-unsafe \
	  -I$(BUILD) -I$(BPF_DIR) -ISources/CSwiftmonRecords/include \
	  -c $(BPF_DIR)/sensor.bpf.c -o $(BUILD)/sensor.unstripped.o
	$(BPF_OBJCOPY) --strip-debug $(BUILD)/sensor.unstripped.o $@

# The skeleton of the object (typed maps, programs, .rodata), which holds the
# object's bytes: compiled into the binary through Sources/CSensorSkeleton,
# so the installed swiftmon is one file. Generated, not committed.
$(SKELETON): $(BUILD)/sensor.bpf.o
	bpftool gen skeleton $< name swiftmon_sensor > $@.tmp && mv $@.tmp $@

bpf: deps $(SKELETON)

build: bpf
	swift build $(SWIFT_FLAGS) $(STATIC) --product swiftmon

run: build
	$(BINARY) run $(ARGS)

# build/swiftmon_<version>_<arch>.deb from the binary built above (no second
# Swift build of swiftmon; see scripts/make-deb.sh).
deb: build deb-package

deb-package:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(DEB_APT_PACKAGES)"
	BINARY=$(BINARY) scripts/make-deb.sh

# Unit tests and the end-to-end tests, which start the real sensor as root.
test: test-deps bpf
	swift build $(SWIFT_FLAGS) -Xswiftc -enable-testing --build-tests
	swift build $(SWIFT_FLAGS) -Xswiftc -enable-testing $(STATIC) --product swiftmon
	$(MAKE) --no-print-directory deb-package
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) swift test $(SWIFT_FLAGS) -Xswiftc -enable-testing --skip-build $(TEST_ARGS)
	@if [ "$(FUZZ_CI_SECONDS)" != 0 ]; then $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS); fi

# SigmaHQ's Linux rules for `bench sigma` (the corpus beside the checkout).
SIGMA_RULES ?= ../shared/corpus/sigma/rules/linux
# Figures, not tests: the exec storm with swiftmon and peer tools side by
# side, then the hot paths one by one (decode, rules, Sigma, store, .etl).
# scripts/bench-baseline.sh compares this binary with an earlier commit's
# (BASELINE_REV, default: the last before container identity): it builds that
# once into .build/bench-baseline/ (a full release build: minutes), unless
# BASELINE_BINARY names a swiftmon built elsewhere.
BASELINE_BINARY ?=
bench: build
	swift build $(SWIFT_FLAGS) $(STATIC) --product swiftmon-testhelper
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench.sh $(BENCH_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-events.sh $(BENCH_EVENTS_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-tamper.sh $(BENCH_TAMPER_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-spool.sh $(BENCH_SPOOL_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-containers.sh $(BENCH_CONTAINERS_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) BASELINE_BINARY=$(BASELINE_BINARY) scripts/bench-baseline.sh $(BENCH_BASELINE_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-memory.sh $(BENCH_MEMORY_ARGS)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-overload.sh $(BENCH_OVERLOAD_ARGS)
	$(BINARY) bench decode --rounds 3
	$(BINARY) bench decode --rounds 3 --through-pipeline
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-allocations.sh
	$(BINARY) bench rules
	$(BINARY) bench sigma $(SIGMA_RULES)
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-sigma-latency.py --rules $(SIGMA_RULES) --stages
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-sigma-latency.py --rules $(SIGMA_RULES) --stages --load 500
	$(BINARY) bench store
	$(BINARY) bench import
	$(BINARY) bench spool
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-etl.sh
	SWIFTMON_BINARY=$(CURDIR)/$(BINARY) scripts/bench-evtx.sh

# The .etl decoder, then the .evtx reader, under libFuzzer (with the address
# sanitizer) for FUZZ_SECONDS each, seeded from the corpus; a crash, a
# memory error or one input taking over 20 s fails. `make test` runs
# both for FUZZ_CI_SECONDS: on a fresh clone that builds the two targets in
# their own scratch path (.build-fuzz; about 2–4 minutes on the 2-core
# machine), then fuzzes 2 × FUZZ_CI_SECONDS (FUZZ_CI_SECONDS=0 leaves it out).
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 25
fuzz:
	scripts/fuzz.sh etl $(FUZZ_SECONDS)
	scripts/fuzz.sh evtx $(FUZZ_SECONDS)

# The .evtx reader alone under libFuzzer.
fuzz-evtx:
	scripts/fuzz.sh evtx $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) .build $(SKELETON)
