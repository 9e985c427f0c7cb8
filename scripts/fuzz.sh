#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer, nightly toolchain) for SECONDS each, starting from the
# committed seeds in fuzz/seeds/TARGET/, and prints the runs and coverage of each target in a table.
# Fails if any target finds a crash; the crashing input's path is in the output (fuzz/artifacts/TARGET/).
#
# Usage: bash scripts/fuzz.sh [SECONDS]     fuzz each target for SECONDS (default 60), one target per core at a
#                                          time (DV_FUZZ_JOBS=N sets how many)
#        bash scripts/fuzz.sh --seeds       rewrite fuzz/seeds/ with the seed generator (examples/fuzz_seeds.rs)
#
# Builds into CARGO_TARGET_DIR, by default ~/.cache/dv-fuzz-target, so repeated runs (and CI on a fresh clone)
# do not rebuild everything. The working corpus, fuzz/corpus/ (ignored by Git), keeps what earlier runs found.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--seeds" ]]; then
    exec cargo run --quiet --locked --example fuzz_seeds -- fuzz/seeds
fi
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: SECONDS must be a positive whole number, not '$seconds'" >&2
    echo >&2
    echo "hint: bash scripts/fuzz.sh 60   (or --seeds to rewrite the seed corpus)" >&2
    exit 1
fi

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "error: fuzzing needs the nightly toolchain (for the address sanitizer and coverage)" >&2
    echo >&2
    echo "hint: rustup toolchain install nightly" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dv-fuzz-target}"

cd fuzz
targets=$(cargo +nightly fuzz list)
start=$(date +%s)
cargo +nightly fuzz build
built=$(date +%s)
echo "built the fuzz targets in $((built - start)) s" >&2

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# One target per core at a time: each libFuzzer process uses one core.
parallel="${DV_FUZZ_JOBS:-$(nproc)}"
fuzz_one() {
    local t=$1
    mkdir -p "corpus/$t"
    if [[ -d "seeds/$t" ]]; then
        cp "seeds/$t"/* "corpus/$t/"
    fi
    echo "fuzzing $t for $seconds s" >&2
    if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -print_final_stats=1 \
        >"$logs/$t.log" 2>&1; then
        touch "$logs/$t.crashed"
    fi
}
for t in $targets; do
    while (( $(jobs -rp | wc -l) >= parallel )); do
        wait -n || true
    done
    fuzz_one "$t" &
done
wait
failed=()
for t in $targets; do
    if [[ -e "$logs/$t.crashed" ]]; then
        failed+=("$t")
        # The end of the log holds the panic or sanitizer report and the artifact's path.
        tail -n 60 "$logs/$t.log" >&2
    fi
done

# libFuzzer's last status line ("#N DONE cov: C ft: F corp: U/S ...") and its final stats.
printf '\n%-12s %12s %10s %8s %8s %14s %s\n' target runs exec/s cov ft corpus result
for t in $targets; do
    log="$logs/$t.log"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    result=ok
    if [[ " ${failed[*]} " == *" $t "* ]]; then
        result="CRASH: $(grep -o 'fuzz/artifacts/[^ ]*' "$log" | head -n 1 || echo 'see the log above')"
    fi
    printf '%-12s %12s %10s %8s %8s %14s %s\n' "$t" "${runs:--}" "${speed:--}" "${cov:--}" "${ft:--}" \
        "${corp:--}" "$result"
done
echo "total $(($(date +%s) - start)) s (build $((built - start)) s)"

if ((${#failed[@]})); then
    echo >&2
    echo "error: ${#failed[@]} fuzz target(s) crashed: ${failed[*]}" >&2
    echo >&2
    echo "hint: reproduce with: cd fuzz && cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE" >&2
    exit 1
fi
