#!/bin/sh
# demo.sh [vfiomig-local options]: builds vfiomigd and runs the main job: a
# live migration of a set of simulated devices (P2P traffic among them, state
# dirtied while running) into another set, with progress and a report.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" "$top/build"
exec "$top/build/daemon/vfiomig-local" "$@"
