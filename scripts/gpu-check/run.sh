#!/usr/bin/env bash
# On the GPU machine, from the repository root: bash .gpucheck/run.sh
# Unpacks the bundle, finds a Vulkan loader and NVIDIA's ICD, runs the worker's engine on webgpu (and on
# cuda when a matching onnxruntime CUDA provider is present on the machine) against the CPU, and
# writes $OUT/gpu-check-<provider>.json. Prints GPU_CHECK_PASSED per provider that passed.
# With BENCH=1 (and nats-server in the bundle) it then runs the end-to-end bench on the GPU provider:
# $OUT/bench-*.json.
set -u
B="$(cd "$(dirname "$0")" && pwd)"; OUT="${OUT:-/tmp/gpucheck-out}"; W=/tmp/qs-gpucheck; mkdir -p "$OUT" "$W"
unxz() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,sys,shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
echo "== gpu"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
NODE=node
if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)'; then
  unxz "$B/node.xz" > "$W/node" && chmod +x "$W/node" && NODE="$W/node"; fi
echo "== node $($NODE --version)"
rm -rf "$W/app"; unxz "$B/app.tar.xz" | tar -C "$W" -x
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in "$B"/libvulkan1_*.deb; do [ -f "$f" ] && dpkg -x "$f" "$W/vk"; done
  export LD_LIBRARY_PATH="$W/vk/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"; echo "== using carried Vulkan loader"
fi
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  # Headless hosts: NVIDIA's usual ICD (libGLX_nvidia.so.0) wants a display and refuses vkCreateInstance;
  # the same driver's EGL library serves Vulkan without one. Offer the EGL ICD first, then the usual one.
  if ldconfig -p | grep -q 'libEGL_nvidia.so.0'; then
    printf '{"file_format_version":"1.0.1","ICD":{"library_path":"libEGL_nvidia.so.0","api_version":"1.3.0"}}\n' > "$W/nvidia_egl_icd.json"
    VK_DRIVER_FILES="$W/nvidia_egl_icd.json"; fi
  for j in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$j" ] && VK_DRIVER_FILES="${VK_DRIVER_FILES:+$VK_DRIVER_FILES:}$j" && break; done
  export VK_DRIVER_FILES; fi
echo "== VK_DRIVER_FILES=${VK_DRIVER_FILES:-<none found>}"
L="$W/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
P=$(python3 -c 'import onnxruntime as o,os; print(os.path.dirname(o.__file__)+"/capi")' 2>/dev/null)
PROVIDERS=webgpu
if [ -n "$P" ] && [ -f "$P/libonnxruntime_providers_cuda.so" ]; then cp "$P"/libonnxruntime_providers_{shared,cuda}.so "$L/" && PROVIDERS="webgpu cuda"; fi
rc=0
for provider in $PROVIDERS; do
  echo "== gpu-check $provider"
  ( cd "$W/app" && timeout 400 "$NODE" dist/bench/gpu-check.js --provider "$provider" --out "$W/out-$provider" ) || rc=1
  cp "$W/out-$provider/gpu-check.json" "$OUT/gpu-check-$provider.json" 2>/dev/null
done
if [ "${BENCH:-0}" = 1 ] && [ -f "$B/nats-server.xz" ]; then
  mkdir -p "$W/bin"; unxz "$B/nats-server.xz" > "$W/bin/nats-server"; chmod +x "$W/bin/nats-server"
  echo "== bench end to end on ${PROVIDERS%% *}"
  ( cd "$W/app" && PATH="$W/bin:$(dirname "$NODE"):$PATH" UV_THREADPOOL_SIZE=16 timeout "${BENCH_TIMEOUT:-300}" "$NODE" dist/bench/run.js \
      --providers "${PROVIDERS%% *},cpu" --memory-images 0 --latency-seconds "${BENCH_LATENCY_SECONDS:-12}" --out "$OUT" ${BENCH_ARGS:-} ) || echo "bench failed or timed out"
fi
exit $rc
