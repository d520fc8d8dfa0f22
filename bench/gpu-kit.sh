#!/usr/bin/env bash
# Packs what a bare GPU machine (no Node, no network) needs to run the benchmark, its PyTorch peer and the CLI into
# .gpu/ (ignored by git), for the device tool's `carry`. Usage, from the repository root:
#   bash bench/gpu-kit.sh              # .gpu/: bench.js, inheritune.js, webgpu (index.js + dawn.node), node, the
#                                      # Vulkan loader (libvulkan1), glvnd (libglvnd0, libegl1), torch_peer.py and
#                                      # steps.json (the step configs it trains)
#   bash bench/gpu-kit.sh --data       # also .gpu-data/: ref-8L (weights xz-compressed) and tinyshakespeare; the two
#                                      # folders fit one call's 64 MiB together
#   bash bench/gpu-kit.sh --data llama # .gpu-data/ with llama-8L instead (carry it in a call of its own)
# On the machine (carry [".gpu", ".gpu-data"]; a warm machine keeps what the first call unpacked):
#   bash .gpu/run.sh all $OUT                       # bench + PyTorch peer in one call: $OUT/bench.json, torch.json
#   bash .gpu/run.sh bench --json $OUT/bench.json
#   bash .gpu/run.sh torch --ours $OUT/bench.json --json $OUT/torch.json
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
# The Vulkan loader, and glvnd: NVIDIA's Vulkan driver (libGLX_nvidia.so.0) creates no instance unless
# libGLdispatch.so.0 and libEGL.so.1 load (seen on the H200 machine, 2026-12-04).
for pkg in libvulkan1 libglvnd0 libegl1; do
  if ! (cd "$KIT" && apt-get download "$pkg" >/dev/null 2>&1); then
    cached=$(ls /var/cache/apt/archives/"$pkg"_*.deb 2>/dev/null | head -1 || true)
    [ -n "$cached" ] || { echo "gpu-kit: could not get $pkg's .deb (apt-get download $pkg)" >&2; exit 1; }
    cp "$cached" "$KIT/"
  fi
done
cp bench/peers/torch_peer.py "$KIT/"
node dist/bench-standalone/bench.js --list-steps --size full > "$KIT/steps.json"
cat > "$KIT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks the kit once (node, dawn.node, the Vulkan loader and glvnd, and any *.xz under ../.gpu-data), then runs
# `bench ARGS…`, `torch ARGS…` (the PyTorch peer), `cli ARGS…`, or `all OUTDIR` (bench, then the peer against it).
set -euo pipefail
K="$(cd "$(dirname "$0")" && pwd)"
D="$(dirname "$K")/.gpu-data"
[ -x "$K/bin/node" ] || { mkdir -p "$K/bin" && xz -dc "$K/node.xz" > "$K/bin/node" && chmod +x "$K/bin/node"; }
[ -f "$K/node_modules/webgpu/dist/linux-x64/dawn.node" ] || { mkdir -p "$K/node_modules/webgpu/dist/linux-x64" && xz -dc "$K/dawn.node.xz" > "$K/node_modules/webgpu/dist/linux-x64/dawn.node"; }
if [ ! -f "$K/vulkan/.done" ]; then
  for deb in "$K"/*.deb; do dpkg -x "$deb" "$K/vulkan"; done
  touch "$K/vulkan/.done"
fi
if [ -d "$D" ]; then
  find "$D" -name '*.xz' -print0 | while IFS= read -r -d '' f; do xz -d "$f"; done
fi
export LD_LIBRARY_PATH="$K/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
PY="${TORCH_PYTHON:-/opt/torch/.venv/bin/python3}"
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
what="${1:?usage: run.sh bench|torch|cli ARGS…, or run.sh all OUTDIR}"; shift
case "$what" in
  bench) exec "$K/bin/node" "$K/bench.js" "$@" ;;
  torch) exec "$PY" "$K/torch_peer.py" --configs "$K/steps.json" "$@" ;;
  cli) exec "$K/bin/node" "$K/inheritune.js" "$@" ;;
  all)
    # One call: our benchmark (cut at BENCH_S seconds; its JSON holds what it measured by then), then the PyTorch
    # peer against it (new cases stop at TORCH_S seconds). Extra flags: BENCH_ARGS, TORCH_ARGS.
    out="${1:?usage: run.sh all OUTDIR}"; mkdir -p "$out"
    rc=0
    # shellcheck disable=SC2086
    timeout "${BENCH_S:-400}" "$K/bin/node" "$K/bench.js" --json "$out/bench.json" ${BENCH_ARGS:-} 2> "$out/bench.txt" || rc=$?
    echo "bench: exit $rc (124: cut at ${BENCH_S:-400} s)" | tee -a "$out/bench.txt" >&2
    ours=(); [ -f "$out/bench.json" ] && ours=(--ours "$out/bench.json")
    "$PY" "$K/torch_peer.py" --configs "$K/steps.json" "${ours[@]}" --json "$out/torch.json" --budget-s "${TORCH_S:-120}" ${TORCH_ARGS:-} 2> "$out/torch.txt" || rc=$?
    tail -n 40 "$out/bench.txt" "$out/torch.txt" >&2
    exit "$rc" ;;
  *) echo "run.sh: bench, torch, cli or all, not $what" >&2; exit 2 ;;
esac
RUN
chmod +x "$KIT/run.sh"
if [ "${1:-}" = "--data" ]; then
  ref=ref-8L; [ "${2:-}" = "llama" ] && ref=llama-8L
  echo "gpu-kit: packing $ref and the corpus into .gpu-data (xz)" >&2
  rm -rf .gpu-data && mkdir -p .gpu-data/$ref
  cp ../shared/fixtures/$ref/*.json .gpu-data/$ref/
  xz -T0 -6 -c ../shared/fixtures/$ref/model.safetensors > .gpu-data/$ref/model.safetensors.xz
  xz -T0 -6 -c ../shared/data/tinyshakespeare.txt > .gpu-data/tinyshakespeare.txt.xz
fi
du -sh "$KIT" ${1:+.gpu-data} >&2
echo "gpu-kit: $(du -scb "$KIT" ${1:+.gpu-data} | tail -1 | cut -f1) bytes to carry (a call carries at most $((64 << 20)))" >&2
