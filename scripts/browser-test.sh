#!/usr/bin/env bash
# dv's HTML reports in a real browser: builds a sample repository with the real dv binary (a folder dataset with
# added, modified, deleted and renamed files; a keyed CSV table with changed cells, added and deleted rows and a
# hostile cell; a safetensors model; a recorded step the new data leaves stale), renders `dv diff --html` and
# `dv lineage --format html`, loads both in headless Chromium and checks what is on the rendered page (the DOM
# after parsing, so escaping mistakes show up as elements), then takes a screenshot.
#
# Usage: bash scripts/browser-test.sh [--update-screenshot]
#   --update-screenshot   also copy the screenshot to docs/diff-report.png (shown in README.md)
# Chromium: $CHROMIUM, else /usr/bin/chromium, installed with apt-get (Debian's `chromium`) when missing. Where it
# cannot be installed this prints SKIP and exits 0, except on CI (CI set), where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$PWD
update_screenshot=false
[[ "${1:-}" == --update-screenshot ]] && update_screenshot=true

start=$(date +%s)
lap=$start
timing() {
    local now
    now=$(date +%s)
    printf '    (%s: %d s)\n' "$1" "$((now - lap))"
    lap=$now
}
fail() {
    echo "FAILED: $*" >&2
    exit 1
}

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
    echo "==> installing Debian's chromium (not found at $CHROMIUM)"
    sudo=()
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo=(sudo -n)
    if command -v apt-get >/dev/null &&
        { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
            --no-install-recommends chromium >/dev/null; } && [[ -x /usr/bin/chromium ]]; then
        CHROMIUM=/usr/bin/chromium
    elif [[ -n "${CI:-}" ]]; then
        fail "chromium is needed on CI and could not be installed"
    else
        echo "SKIP: no chromium at $CHROMIUM and it could not be installed (apt-get install chromium, or set CHROMIUM)"
        exit 0
    fi
    timing "chromium install"
fi
"$CHROMIUM" --version 2>/dev/null || true

# $DV when the caller has a build (scripts/test.sh passes the one `cargo test` made: a plain `cargo build` would
# rebuild dv whole, its dependencies' features unified differently); else built here.
if [[ -z "${DV:-}" ]]; then
    cargo build --locked --quiet
    DV="${CARGO_TARGET_DIR:-$repo_root/target}/debug/dv"
fi
[[ -x "$DV" ]] || fail "no dv binary at $DV"
echo "==> dv: $DV"
timing "build"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"
mkdir -p "$HOME"
export GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL=ada@example.com
export GIT_COMMITTER_NAME="Ada Lovelace" GIT_COMMITTER_EMAIL=ada@example.com
export GIT_AUTHOR_DATE="2026-03-02T10:00:00+01:00" GIT_COMMITTER_DATE="2026-03-02T10:00:00+01:00"

echo "==> a sample repository: version 1"
repo="$work/sample"
git init -q -b main "$repo"
cd "$repo"
"$DV" -q init

# A safetensors file: the header's length (u64, little-endian), the JSON header padded to 8 bytes, the data.
le64() {
    local i
    for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $((($1 >> (8 * i)) & 255)))"; done
}
safetensors() { # FILE HEADER DATA (printf escapes)
    local h=$2
    while ((${#h} % 8)); do h+=" "; done
    { le64 ${#h}; printf '%s' "$h"; printf "$3"; } >"$1"
}
ONE='\x00\x00\x80\x3f' HALF='\x00\x00\x00\x3f' TWO='\x00\x00\x00\x40' QUARTER='\x00\x00\x80\x3e'

mkdir -p images/cats images/dogs
printf 'cat one' >images/cats/tabby.jpg
head -c 3000 /dev/zero | tr '\0' 'c' >images/cats/siamese.jpg
head -c 5000 /dev/zero | tr '\0' 'd' >images/dogs/beagle.jpg
printf 'a dog' >images/dogs/collie.jpg
printf 'old notes' >images/README.txt
cat >people.csv <<'EOF'
id,name,city,score
1,Alice,Lisbon,90
2,Bob,Berlin,75
3,Carol,Paris,82
4,Dan,Rome,64
5,Eve,Oslo,71
6,Frank,Madrid,88
7,Grace,Vienna,93
EOF
safetensors model.safetensors \
    '{"__metadata__":{"step":"100"},"embed":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"head":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}' \
    "$ONE$ONE$ONE$ONE$HALF$HALF"
"$DV" -q add images model.safetensors
"$DV" -q add people.csv --key id
"$DV" -q run -n summarize -d people.csv -o summary.txt -- sh -c 'wc -l < people.csv > summary.txt'
git add -A && git commit -q -m "Version 1: first images, people and model"
git tag v1

echo "==> version 2"
printf 'cat one, retouched' >images/cats/tabby.jpg
mv images/dogs/beagle.jpg images/dogs/beagle-2.jpg
rm images/dogs/collie.jpg
head -c 20000 /dev/zero | tr '\0' 'p' >images/dogs/poodle.jpg
cat >people.csv <<'EOF'
id,name,city,score
1,Alice,Porto,90
2,Bob,Berlin,79
3,Carol,Paris,82
5,Eve,Oslo,71
6,Frank,Madrid,88
7,Grace,Vienna,95
8,Heidi,"<script>alert(1)</script>",60
9,Ivan,"Tom & ""Jerry"" 'x'",58
EOF
safetensors model.safetensors \
    '{"__metadata__":{"step":"200"},"embed":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"head":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"bias":{"dtype":"F32","shape":[2],"data_offsets":[24,32]}}' \
    "$ONE$TWO$ONE$ONE$HALF$QUARTER$HALF$HALF"
"$DV" -q add images model.safetensors people.csv
git add -A && git commit -q -m "Version 2: new dogs, Porto & <b>bold</b> scores"
git tag v2
timing "sample repository"

echo "==> rendering the reports"
"$DV" diff v1 v2 --html --limit 5 -o "$work/diff.html"
"$DV" lineage summary.txt --format html >"$work/lineage.html"
"$DV" diff v1 v2 --json >"$work/diff.json"
timing "dv diff --html, dv lineage --format html"

echo "==> loading them in headless Chromium"
browser() {
    # A fresh profile each time, no sandbox (CI runs as root), no network: the pages need none.
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --user-data-dir="$work/profile" --proxy-server=127.0.0.1:9 --hide-scrollbars "$@" 2>>"$work/chromium.log"
}
browser --dump-dom "file://$work/diff.html" >"$work/diff.dom"
browser --dump-dom "file://$work/lineage.html" >"$work/lineage.dom"
timing "chromium --dump-dom"

checks=0
has() { # FILE TEXT WHAT
    grep -qF -- "$2" "$1" || fail "$3: '$2' is not on the rendered page ($1)"
    checks=$((checks + 1))
}
hasnt() {
    if grep -qF -- "$2" "$1"; then fail "$3: '$2' is on the rendered page ($1)"; fi
    checks=$((checks + 1))
}
dom="$work/diff.dom"
has "$dom" '<code>v1</code>' "the revisions compared"
has "$dom" 'Version 1: first images, people and model' "the commit message"
has "$dom" 'Porto &amp; &lt;b&gt;bold&lt;/b&gt; scores' "a commit message shown as text"
has "$dom" 'images/dogs/poodle.jpg' "an added file"
has "$dom" 'images/dogs/collie.jpg' "a deleted file"
has "$dom" '19.5 KiB' "a file size"
has "$dom" 'images/dogs/beagle.jpg<span class="arrow">→</span>images/dogs/beagle-2.jpg' "a renamed file"
has "$dom" '<del>Lisbon</del><span class="arrow">→</span><ins>Porto</ins>' "a changed cell, old and new"
has "$dom" '<del>93</del><span class="arrow">→</span><ins>95</ins>' "a changed score"
has "$dom" 'Showing 5 of 6 changed rows' "the cap, with the exact count"
has "$dom" '2 added</span>' "the added-row count"
has "$dom" '<td class="v">Dan</td>' "a deleted row"
has "$dom" 'embed' "a changed tensor"
has "$dom" '1 of 4 (25.00%)' "the elements a tensor changed"
has "$dom" 'summarize' "the step the new table leaves stale"
has "$dom" 'up to date: this change made it stale' "how the step stood before"
hasnt "$dom" '<script' "no script element, from data or otherwise"
hasnt "$dom" '<b>bold' "no markup from a commit message"
# The hostile cell is on the page as text: the payload sits beyond --limit 5, so render the whole table too.
"$DV" diff v1 v2 people.csv --html -o "$work/all.html"
browser --dump-dom "file://$work/all.html" >"$work/all.dom"
has "$work/all.dom" '&lt;script&gt;alert(1)&lt;/script&gt;' "a hostile cell, as text"
has "$work/all.dom" "Tom &amp; \"Jerry\" 'x'" "quotes and ampersands, as text"
has "$work/all.dom" 'Showing 6 of 6 changed rows' "every row when under the cap"
hasnt "$work/all.dom" '<script' "no script element from a cell"
grep -q '"stale_steps"' "$work/diff.json" || fail "--json lacks stale_steps"
ldom="$work/lineage.dom"
has "$ldom" '<svg' "the lineage picture"
has "$ldom" '<g class="step"><title>step summarize</title>' "the step in the picture"
has "$ldom" 'people.csv' "the step's input"
has "$ldom" 'summary.txt' "the step's output"
echo "OK: $checks checks on the rendered pages"
timing "checks"

echo "==> screenshot"
shot="$work/diff-report.png"
browser --screenshot="$shot" --window-size=1000,1900 "file://$work/diff.html" >/dev/null
[[ -s "$shot" ]] || fail "no screenshot"
browser --screenshot="$work/lineage.png" --window-size=800,300 "file://$work/lineage.html" >/dev/null
if $update_screenshot; then
    cp "$shot" "$repo_root/docs/diff-report.png"
    echo "updated docs/diff-report.png ($(wc -c <"$shot") bytes)"
fi
if [[ -n "${BROWSER_TEST_KEEP:-}" ]]; then
    mkdir -p "$BROWSER_TEST_KEEP"
    cp "$work"/*.html "$work"/*.png "$BROWSER_TEST_KEEP/"
    echo "kept the pages and screenshots in $BROWSER_TEST_KEEP"
fi
timing "screenshots"
echo "==> browser test: $(($(date +%s) - start)) s"
