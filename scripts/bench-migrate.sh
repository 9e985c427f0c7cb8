#!/usr/bin/env bash
# Benchmark of `dv migrate dvc --all-commits` (issue 19): a DVC repository with VERSIONS versions of a
# dataset of FILES files of MIB MiB each (random bytes, so compression cannot help either tool), each version
# overwriting 1 MiB at a random place in every file (every file changes, little of it does: the case where
# DVC's whole-file objects cost the most). Prints DVC's time to add each version, dv's migration time, and
# the bytes of DVC's cache against dv's cache after dedup and compression.
# Usage: DVC=/root/.cache/dvc-venv/bin/dvc DV=target/release/dv bash scripts/bench-migrate.sh [DIR]
# Defaults: VERSIONS=5 FILES=8 MIB=128 (1 GiB), DIR a new folder under $TMPDIR (removed at the end).
set -euo pipefail
DVC=${DVC:-dvc}
DV=${DV:-dv}
VERSIONS=${VERSIONS:-5}
FILES=${FILES:-8}
MIB=${MIB:-128}
work=${1:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench \
    GIT_COMMITTER_EMAIL=bench@example.com DVC_NO_ANALYTICS=1
mkdir -p "$work/repo" && cd "$work/repo"
git init -q -b main
"$DVC" init -q
mkdir data
python3 - "$FILES" "$MIB" <<'P'
import random, sys
files, mib = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(19)
for i in range(files):
    with open(f"data/part-{i:02}.bin", "wb") as f:
        for _ in range(mib):
            f.write(r.randbytes(1 << 20))
P
dvc_add=0
for v in $(seq 1 "$VERSIONS"); do
    if [ "$v" -gt 1 ]; then
        python3 - "$FILES" "$MIB" "$v" <<'P'
import random, sys
files, mib, v = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = random.Random(1000 + v)
for i in range(files):
    with open(f"data/part-{i:02}.bin", "r+b") as f:
        f.seek(r.randrange(0, (mib - 1) << 20))
        f.write(r.randbytes(1 << 20))
P
    fi
    s=$(date +%s.%N)
    "$DVC" add -q data
    e=$(date +%s.%N)
    dvc_add=$(python3 -c "print($dvc_add + $e - $s)")
    git add -A && git commit -q -m "version $v"
done
dvc_bytes=$(du -sb .dvc/cache | cut -f1)
"$DV" init -q
s=$(date +%s.%N)
"$DV" migrate dvc --all-commits --json > "$work/report.json"
e=$(date +%s.%N)
dv_bytes=$(du -sb .dv/cache | cut -f1)
python3 - "$work/report.json" "$dvc_bytes" "$dv_bytes" "$s" "$e" "$dvc_add" "$VERSIONS" "$FILES" "$MIB" <<'P'
import json, sys
r = json.load(open(sys.argv[1]))
dvc, dv, s, e, add = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
v, f, m = sys.argv[7], sys.argv[8], sys.argv[9]
gib = lambda b: f"{b / 2**30:.2f} GiB"
print(f"{v} versions of {f} x {m} MiB: dvc add total {add:.1f} s; dv migrate dvc --all-commits {e - s:.1f} s")
print(f"DVC cache {gib(dvc)} ({dvc} B); dv cache {gib(dv)} ({dv} B): {dvc / dv:.2f}x less")
print(f"report: source_bytes {r['source_bytes']}, stored_bytes {r['stored_bytes']}, mapped_versions {r['mapped_versions']}, "
      f"objects from cache {r['objects_from_cache']}")
P
