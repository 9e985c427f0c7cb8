#!/usr/bin/env bash
# The whole test suite: unit, property and CLI tests against the real dv binary in real Git repositories, then
# (without extra arguments) dv's HTML reports in headless Chromium (scripts/browser-test.sh, which installs
# Debian's chromium when it is missing) and the Python package's tests (scripts/py-test.sh, which makes its
# virtual environment when it is missing).
# Usage: bash scripts/test.sh [extra cargo test args]
#
# Two settings make the suite about twice as fast on a small machine, and either can be set by hand instead:
# - TMPDIR: the tests' repositories, remotes and caches go in a fresh folder on /dev/shm when that is a tmpfs
#   with room to spare. The CLI tests create and delete some hundred thousand files; on an ext4 disk without a
#   journal (as on CI's machines) each new inode is found by scanning for recently deleted ones, which made the
#   kernel's share of the CLI suite 20 s of a 29 s test (perf: find_inode_bit, recently_deleted). The files are
#   as real in RAM: same system calls, same renames and links.
# - RUST_TEST_THREADS: twice the cores. The CLI tests spend much of their time waiting on dv and git processes,
#   sleeps and timeouts, so two per core keep the cores busy.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v git >/dev/null || { echo "error: the tests need git on PATH" >&2; exit 1; }
# The Azure tests run against Azurite, started by the tests; install it first (quick when already there).
bash scripts/install-emulators.sh
# `dv migrate lfs` is tested against the real git-lfs when it is there (else that test says it skipped):
# Debian's package, installed when missing and apt-get can (a few seconds).
if ! git lfs version >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    sudo=()
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo=(sudo -n)
    { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
        --no-install-recommends git-lfs >/dev/null; } || echo "note: git-lfs could not be installed" >&2
fi

if [[ -z "${TMPDIR:-}" ]] && [[ "$(stat -f -c %T /dev/shm 2>/dev/null)" == tmpfs ]] &&
    (( $(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') > 4 * 1024 * 1024 )); then
    TMPDIR=$(mktemp -d /dev/shm/dv-tests.XXXXXX)
    export TMPDIR
    trap 'rm -rf "$TMPDIR"' EXIT
fi
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-$(( 2 * $(nproc) ))}"
cargo test --locked "$@"
if [[ $# -eq 0 ]]; then
    DV="${CARGO_TARGET_DIR:-$PWD/target}/debug/dv" bash scripts/browser-test.sh
    bash scripts/py-test.sh
fi
