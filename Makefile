# Thin wrapper around meson. `make demo` and `make check` do all set-up on a fresh Debian machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_SECS  ?= 60
PREFIX     ?= /usr/local

.PHONY: all bootstrap check check-asan check-cross demo install clean fuzz

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

bootstrap:
	tools/bootstrap

check: bootstrap
	$(MAKE) all
	tools/run-tests $(BUILD)

# AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer comes with ASan on Linux).
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

check-asan: bootstrap $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	SANITIZER_PASS=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 tools/run-tests $(ASAN_BUILD)

# arm64 and armhf: Debian's cross toolchains (cross/*.ini), the unit suite and a loopback end to end under
# qemu-user (tools/check-cross; build dirs build-arm64, build-armhf).
check-cross: bootstrap
	tools/check-cross

fuzz: bootstrap
	tools/fuzz $(FUZZ_SECS)

demo: bootstrap
	$(MAKE) all
	tools/demo $(BUILD)

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
