#!/usr/bin/env bash
# Builds .gpucheck/ for one run on an NVIDIA GPU machine that has no Node.js, no internet and no
# CUDA provider for onnxruntime-node: the built project with its production node_modules (pruned to
# linux/x64), the node binary and Debian's Vulkan loader. Run here, from the repository root:
#   scripts/gpu-check/prepare.sh && echo /.gpucheck/ >> .git/info/exclude
# then on the GPU machine (carry .gpucheck): bash .gpucheck/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
G=.gpucheck; T="$(mktemp -d)"
rm -rf "$G"; mkdir -p "$G"
npm run build --silent
mkdir -p "$T/app"
cp -r dist proto models bin package.json package-lock.json "$T/app/"
( cd "$T/app" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund >/dev/null )
O="$T/app/node_modules/onnxruntime-node/bin/napi-v6"
find "$O" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
rm -rf "$O/linux/arm64"
tar -C "$T" -cJf "$G/app.tar.xz" app
xz -T0 -9 -c "$(readlink -f "$(command -v node)")" > "$G/node.xz"
# nats-server lets run.sh also run `npm run bench` end to end on the GPU host (skipped when absent).
if command -v nats-server >/dev/null; then xz -T0 -9 -c "$(readlink -f "$(command -v nats-server)")" > "$G/nats-server.xz"; fi
( cd "$T" && mkdir -p l/partial && apt-get -oDir::State::Lists="$T/l" update >/dev/null && apt-get -oDir::State::Lists="$T/l" download libvulkan1 >/dev/null 2>&1 && cp libvulkan1_*.deb "$OLDPWD/$G/" ) || echo "prepare: could not download libvulkan1 (the GPU machine must then have a Vulkan loader)"
cp scripts/gpu-check/run.sh "$G/run.sh"
rm -rf "$T"
du -sh "$G"
