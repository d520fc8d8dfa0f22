#!/usr/bin/env bash
# Packs what a bare GPU machine (no Node, no network) needs to run the benchmark and the CLI into .gpu/ (ignored by
# git), for the device tool's `carry`. Usage, from the repository root:
#   bash bench/gpu-kit.sh            # .gpu/: bench.js, inheritune.js, webgpu (index.js + dawn.node), node, libvulkan1
#   bash bench/gpu-kit.sh --data     # also .gpu-data/: ref-8L and tinyshakespeare from ../shared (carry it in a
#                                    # second call: the two together exceed the 64 MiB a call may carry)
# On the machine (carry [".gpu"], then [".gpu-data"] if needed; a warm machine keeps what the first call unpacked):
#   bash .gpu/run.sh bench --json $OUT/bench.json
#   bash .gpu/run.sh cli run --ref .gpu-data/ref-8L --data .gpu-data/tinyshakespeare.txt --n 4 --out $OUT/run
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.gpu
rm -rf "$KIT" && mkdir -p "$KIT/node_modules/webgpu/dist/linux-x64"
echo "gpu-kit: building the standalone benchmark and CLI" >&2
BENCH_STANDALONE=1 npx vite build -c vite.bench.config.ts --logLevel error
CLI_STANDALONE=1 npx vite build -c vite.cli.config.ts --logLevel error
cp dist/bench-standalone/bench.js "$KIT/bench.js"
cp dist/cli-standalone/inheritune.js "$KIT/inheritune.js"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$KIT/node_modules/webgpu/"
echo "gpu-kit: compressing node and dawn.node" >&2
xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$KIT/dawn.node.xz"
xz -T0 -6 -c "$(command -v node)" > "$KIT/node.xz"
if ! (cd "$KIT" && apt-get download libvulkan1 >/dev/null 2>&1); then
  cached=$(ls /var/cache/apt/archives/libvulkan1_*.deb 2>/dev/null | head -1 || true)
  [ -n "$cached" ] || { echo "gpu-kit: could not get libvulkan1's .deb (apt-get download libvulkan1)" >&2; exit 1; }
  cp "$cached" "$KIT/"
fi
cat > "$KIT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks the kit once (node, dawn.node, the Vulkan loader), then runs `bench ARGS…` or `cli ARGS…` on the GPU.
set -euo pipefail
K="$(cd "$(dirname "$0")" && pwd)"
[ -x "$K/bin/node" ] || { mkdir -p "$K/bin" && xz -dc "$K/node.xz" > "$K/bin/node" && chmod +x "$K/bin/node"; }
[ -f "$K/node_modules/webgpu/dist/linux-x64/dawn.node" ] || { mkdir -p "$K/node_modules/webgpu/dist/linux-x64" && xz -dc "$K/dawn.node.xz" > "$K/node_modules/webgpu/dist/linux-x64/dawn.node"; }
[ -d "$K/vulkan" ] || dpkg -x "$K"/libvulkan1_*.deb "$K/vulkan"
export LD_LIBRARY_PATH="$K/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
what="${1:?usage: run.sh bench|cli ARGS…}"; shift
case "$what" in
  bench) exec "$K/bin/node" "$K/bench.js" "$@" ;;
  cli) exec "$K/bin/node" "$K/inheritune.js" "$@" ;;
  *) echo "run.sh: bench or cli, not $what" >&2; exit 2 ;;
esac
RUN
chmod +x "$KIT/run.sh"
if [ "${1:-}" = "--data" ]; then
  rm -rf .gpu-data && mkdir -p .gpu-data
  cp -r ../shared/fixtures/ref-8L .gpu-data/ && cp ../shared/data/tinyshakespeare.txt .gpu-data/
fi
du -sh "$KIT" ${1:+.gpu-data} >&2
