#!/usr/bin/env bash
# Installs the storage emulators the backend tests start (tests/support/emulators.rs): Azurite (npm) for Azure.
# Idempotent and quick when already there. Everything goes under ~/.cache/dv-emulators (DV_EMULATORS_HOME),
# outside the repository; the tests find the programs in its bin/ (or in DV_EMULATORS_BIN).
set -euo pipefail
home="${DV_EMULATORS_HOME:-$HOME/.cache/dv-emulators}"
azurite_version=3.35.0
mkdir -p "$home/bin"
if [ ! -x "$home/npm/node_modules/.bin/azurite-blob" ] ||
    ! grep -q "\"version\": \"$azurite_version\"" "$home/npm/node_modules/azurite/package.json" 2>/dev/null; then
    command -v npm >/dev/null || {
        echo "error: the Azure tests need Node.js and npm (Debian: apt-get install nodejs npm)" >&2
        exit 1
    }
    echo "installing Azurite $azurite_version into $home/npm" >&2
    mkdir -p "$home/npm"
    npm install --prefix "$home/npm" --no-audit --no-fund --silent "azurite@$azurite_version" >&2
fi
ln -sf "$home/npm/node_modules/.bin/azurite-blob" "$home/bin/azurite-blob"
