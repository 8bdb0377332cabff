#!/usr/bin/env bash
# Builds Agora and runs a whole cluster on this machine (a master and two
# agents) with an example workload; Ctrl-C stops everything.
# Extra arguments go to `agora local` (see `agora local --help`).
set -euo pipefail
cd "$(dirname "$0")"
./tools/setup
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
exec build/bin/agora local "$@"
