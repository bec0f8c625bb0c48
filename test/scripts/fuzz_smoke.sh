#!/usr/bin/env bash
# Smoke test of the libFuzzer targets (issue 6): builds every target (incrementally, in build-fuzz/ or
# $FUZZ_BUILD) and replays its committed seed corpus once (-runs=0: no fuzzing), so CI sees that the targets
# build and that no seed crashes, leaks or breaks an invariant. Skipped (77) without clang++.
# Writes nothing outside the build folder; tools/fuzz never touches the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang++ >/dev/null || { echo "fuzz_smoke: clang++ not found, skipping"; exit 77; }
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
        clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null 2>/dev/null; then
    echo "fuzz_smoke: clang++ cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing?), skipping"
    exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
timeout 900 tools/fuzz --build >"$log" 2>&1 || rc=$?
if [ $rc -ne 0 ]; then
    tail -40 "$log"
    [ $rc -eq 124 ] && echo "fuzz_smoke: build timed out"
    exit 1
fi
timeout 300 tools/fuzz --replay
