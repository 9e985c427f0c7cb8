#!/usr/bin/env bash
# The Python package's tests (python/tests), run by scripts/test.sh after cargo's:
# - a virtual environment ($DV_VENV, default ~/.cache/dv-venv) with the pinned test requirements (maturin,
#   pyarrow, pandas, polars, duckdb, pytest, moto's S3 server): about 40 s the first time, then a check;
# - the native module built into it by `maturin develop` (the dev profile, in the same target folder as
#   cargo's, so dv-core is not built twice);
# - pytest against the dv binary cargo built (the tests make their repositories with it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${DV_VENV:-$HOME/.cache/dv-venv}"
if [[ ! -x $VENV/bin/python ]]; then
    py=""
    for c in python3.13 python3.12 python3.11 python3; do
        if command -v "$c" >/dev/null &&
            "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            py=$c
            break
        fi
    done
    [[ -n $py ]] || { echo "error: the Python tests need Python 3.11 or newer" >&2; exit 1; }
    "$py" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r python/requirements-test.txt
target="${CARGO_TARGET_DIR:-$PWD/target}"
(cd python && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" maturin develop --locked -q)
[[ -x $target/debug/dv ]] || cargo build --locked
DV_BIN="$target/debug/dv" "$VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider
