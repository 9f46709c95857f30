#!/usr/bin/env bash
# One-time set-up on a Debian/Ubuntu machine: nats-server and prometheus (promtool; apt) when missing,
# then npm ci and a build.
# Safe to run again. Needs Node.js >= 20.9 with npm.
set -euo pipefail
cd "$(dirname "$0")/.."

# sharp and eslint need 20.9 or later.
if ! command -v node >/dev/null 2>&1 || ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number); process.exit(major > 20 || (major === 20 && minor >= 9) ? 0 : 1)'; then
  echo "setup: Node.js >= 20.9 is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "       Install it from https://nodejs.org or your distribution's nodejs 20.9+ package, then run this again." >&2
  exit 1
fi

# nats-server: tests and the demo; prometheus + promtool: alert-rule, metrics and dashboard tests.
# Debian's nats-server is /usr/sbin/nats-server, off a non-root user's PATH; Quicksilver looks there too.
nats_server() { command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }; }
MISSING=()
nats_server >/dev/null || MISSING+=(nats-server)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || MISSING+=(prometheus)
if [ ${#MISSING[@]} -gt 0 ]; then
  echo "setup: installing ${MISSING[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${MISSING[@]}"
  # On a systemd host the packages start their own services (nats-server without JetStream on :4222,
  # Prometheus on :9090), which would take the ports the README's commands use. Only ours are stopped.
  if [ -d /run/systemd/system ]; then
    for service in "${MISSING[@]}"; do
      if systemctl is-enabled --quiet "$service" 2>/dev/null || systemctl is-active --quiet "$service" 2>/dev/null; then
        echo "setup: stopping and disabling the $service service the package started (Quicksilver runs its own)"
        $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

# onnxruntime-node's install script downloads CUDA files from NuGet; package.json "allowScripts" skips it
# on npm 11, the variable on any npm (Node 20 ships npm 10). GPU hosts: see docs/gpu.md.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi
npm run build --silent
echo "setup: done (node $(node --version), $("$(nats_server)" --version), $(promtool --version 2>&1 | head -1))"
