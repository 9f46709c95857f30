#!/usr/bin/env bash
# One-time set-up on a Debian/Ubuntu machine: nats-server and prometheus (promtool; apt) when missing,
# then npm ci and a build.
# Safe to run again. Needs Node.js >= 20 with npm.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "       Install it from https://nodejs.org or your distribution's nodejs 20+ package, then run this again." >&2
  exit 1
fi

# nats-server: tests and the demo; prometheus + promtool: alert-rule, metrics and dashboard tests.
MISSING=()
command -v nats-server >/dev/null 2>&1 || MISSING+=(nats-server)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || MISSING+=(prometheus)
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "setup: installing ${MISSING[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${MISSING[@]}"
fi

# onnxruntime-node's install script downloads CUDA files from NuGet; package.json "allowScripts"
# skips it (npm 11), the variable does the same on older npm. GPU hosts: see docs/gpu.md.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
npm run build --silent
echo "setup: done (node $(node --version), $(nats-server --version), $(promtool --version 2>&1 | head -1))"
