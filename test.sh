#!/usr/bin/env bash
# Builds Agora with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# every test: unit tests (C), integration tests (real master, agent and
# executor processes on 127.0.0.1), and the format and layering checks.
# It also compiles the optimised build that ./local.sh runs, because some
# warnings (-Werror) only appear with optimisation.
# Extra arguments go to ctest (e.g. -R integration/test_02).
set -euo pipefail
cd "$(dirname "$0")"
./tools/setup
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
cmake -S . -B build-asan -G Ninja -DAGORA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
ninja -C build-asan
ctest --test-dir build-asan --output-on-failure --timeout 900 -j2 "$@"
