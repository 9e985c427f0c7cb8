#!/usr/bin/env bash
# Builds a DVC repository with the real `dvc` CLI, for the `dv migrate dvc` tests (tests/cli/migrate.rs), and
# packs it as tests/fixtures/dvc/repo.tar.gz (or into OUT). Usage:
#   DVC=/root/.cache/dvc-venv/bin/dvc bash scripts/make-dvc-fixture.sh [OUT.tar.gz]
# What it holds: three commits; a file (data/raw.csv) and a folder (images/) added with `dvc add`; a
# two-stage pipeline (prepare, train) with params.yaml; a DVC folder remote (`remote/`, outside the work tree
# folder `repo/`) holding every commit's objects; the local cache `.dvc/cache` as DVC left it.
# Dates and names are fixed, so the Git commits are the same on every run of the same DVC version.
set -euo pipefail
DVC=${DVC:-dvc}
OUT=${1:-$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/dvc/repo.tar.gz}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=fixture GIT_AUTHOR_EMAIL=fixture@example.com GIT_COMMITTER_NAME=fixture \
    GIT_COMMITTER_EMAIL=fixture@example.com DVC_NO_ANALYTICS=1
commit() {
    GIT_AUTHOR_DATE="2026-01-0$1T12:00:00Z" GIT_COMMITTER_DATE="2026-01-0$1T12:00:00Z" git commit -q -m "$2"
}
mkdir "$work/repo" "$work/remote"
cd "$work/repo"
git init -q -b main
"$DVC" init -q
"$DVC" config core.autostage true
"$DVC" remote add -d storage ../remote
mkdir -p data images/sub
printf 'id,value\n1,10\n2,20\n' > data/raw.csv
printf 'png-1' > images/a.png
printf 'png-2' > images/sub/b.png
"$DVC" add -q data/raw.csv images
cat > params.yaml <<'P'
prepare:
  factor: 2
train:
  epochs: 3
P
cat > prepare.sh <<'P'
mkdir -p out
awk -F, -v f="$1" 'NR > 1 { print $1 "," $2 * f }' data/raw.csv > out/prepared.csv
P
cat > train.sh <<'P'
mkdir -p model
{ echo "epochs=$1"; cat out/prepared.csv; } > model/model.txt
P
"$DVC" stage add -q -n prepare -d prepare.sh -d data/raw.csv -p prepare.factor -o out \
    'sh prepare.sh $(grep factor params.yaml | tr -dc 0-9)'
"$DVC" stage add -q -n train -d train.sh -d out -p train.epochs -o model \
    'sh train.sh $(grep epochs params.yaml | tr -dc 0-9)'
"$DVC" repro -q
git add -A
commit 1 "first version"
"$DVC" push -q

printf 'id,value\n1,10\n2,20\n3,30\n' > data/raw.csv
printf 'png-3' > images/c.png
"$DVC" add -q data/raw.csv images
"$DVC" repro -q
git add -A
commit 2 "more rows, a third image"
"$DVC" push -q

sed -i 's/epochs: 3/epochs: 5/' params.yaml
printf 'id,value\r\n1,11\r\n' > data/crlf.txt
"$DVC" add -q data/crlf.txt
"$DVC" repro -q
git add -A
commit 3 "five epochs, a CRLF text file"
"$DVC" push -q

cd "$work"
mkdir -p "$(dirname "$OUT")"
rm -rf repo/.dvc/tmp
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=2026-01-01 -czf "$OUT" repo remote
echo "wrote $OUT with $("$DVC" --version | head -1) ($(du -h "$OUT" | cut -f1))"
