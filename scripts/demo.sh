#!/usr/bin/env bash
# Builds and installs dv, then runs its main job end to end on the embedded default (a folder remote, no
# account): version a generated dataset in a temporary Git repository, change it, share it through a folder
# remote with a clone, and get the old version back bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building and installing dv (release)"
cargo install --locked --path . --root "${DV_INSTALL_ROOT:-$HOME/.local}" --quiet
DV="${DV_INSTALL_ROOT:-$HOME/.local}/bin/dv"
"$DV" --version

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main demo && cd demo
git config user.email demo@example.com && git config user.name "dv demo"

echo "==> generating a dataset: 64 MiB model file + 200 small files in nested folders"
mkdir -p data/images data/labels/train
head -c $((64 << 20)) /dev/urandom > data/model.bin
for i in $(seq 1 200); do
  head -c $((1024 + i * 37)) /dev/urandom > "data/images/img_$i.raw"
  echo "$i,cat,$((i % 7))" > "data/labels/train/label_$i.csv"
done
sha_v1=$(find data -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)

echo "==> dv init && dv remote add (a folder) && dv add data && git commit"
"$DV" init
mkdir "$work/remote"
"$DV" remote add origin "$work/remote" --default
"$DV" add data
git add .dv && git commit -q -m "data v1"   # dv add staged data.dv and .gitignore already
cat data.dv

echo "==> edit: overwrite 1 MiB inside the model, add and delete files; dv add && git commit"
dd if=/dev/urandom of=data/model.bin bs=1M count=1 seek=20 conv=notrunc status=none
echo "new" > data/labels/train/label_new.csv
rm data/images/img_7.raw
"$DV" status
"$DV" add data
git commit -q -m "data v2"
du -sh .dv/cache | sed 's/^/cache size after two versions: /'

"$DV" log data

echo "==> share it: push to a folder remote (the embedded default: no server, no account), clone, pull"
"$DV" push --all-commits
sha_v2=$(find data -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
git clone -q "$work/demo" "$work/clone"
sha_clone=$(cd "$work/clone" && "$DV" pull >&2 && find data -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
if [ "$sha_v2" = "$sha_clone" ]; then
  echo "OK: the clone pulled version 2 bit for bit"
else
  echo "FAILED: the clone's data differs from version 2" >&2
  exit 1
fi

echo "==> back to v1: dv checkout --rev HEAD~1 (Git's HEAD stays where it is)"
"$DV" diff --stat HEAD~1 HEAD
"$DV" checkout --rev HEAD~1
sha_back=$(find data -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
if [ "$sha_v1" = "$sha_back" ]; then
  echo "OK: version 1 restored bit for bit"
else
  echo "FAILED: restored data differs from version 1" >&2
  exit 1
fi
