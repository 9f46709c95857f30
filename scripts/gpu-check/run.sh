#!/usr/bin/env bash
# On the GPU machine, from the repository root: bash .gpucheck/run.sh
# Unpacks the bundle, finds a Vulkan loader and NVIDIA's ICD, runs the worker's engine on webgpu (and on
# cuda when a matching onnxruntime CUDA provider is present on the machine) against the CPU, and
# writes $OUT/gpu-check-<provider>.json. Prints GPU_CHECK_PASSED per provider that passed.
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
  for j in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$j" ] && export VK_DRIVER_FILES="$j" && break; done; fi
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
exit $rc
