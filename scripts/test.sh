#!/usr/bin/env bash
# The whole test suite: unit, property and CLI tests against the real dv binary in real Git repositories.
# Usage: bash scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v git >/dev/null || { echo "error: the tests need git on PATH" >&2; exit 1; }
# The Azure tests run against Azurite, started by the tests; install it first (quick when already there).
bash scripts/install-emulators.sh
exec cargo test --locked "$@"
