#!/usr/bin/env bash
# Smoke test of the libFuzzer targets: builds every target (incrementally, in build-fuzz/ or
# $FUZZ_BUILD) and replays its committed seed corpus once (-runs=0: no fuzzing), so CI sees that the targets
# build and that no seed crashes, leaks or breaks an invariant. Skipped (77) without clang++.
# Writes nothing outside the build folder; tools/fuzz never touches the committed corpus.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT" || exit 1
t_need_tools clang++
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
        clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null 2>/dev/null; then
    skip "clang++ cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing?)"
fi
t_init p2p-fuzz   # on failure the cleanup prints the last 40 lines of the build log
rc=0
timeout 900 tools/fuzz --build >"$W/build.log" 2>&1 || rc=$?
if [ $rc -ne 0 ]; then
    [ $rc -eq 124 ] && echo "fuzz_smoke: build timed out"
    exit 1
fi
timeout 300 tools/fuzz --replay
PASSED=1
