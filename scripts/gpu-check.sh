#!/usr/bin/env bash
# GPU check for agg's embeddings: throughput per execution provider and cosine
# agreement with the CPU provider, using agg's own benchmark binary
# (crates/agg-score/examples/embed_bench.rs). Written for the lent GPU machine
# described in ../shared/ENV-NOTES.md (NVIDIA H100/H200, no Rust, no network,
# ONNX Runtime 1.30 CPU in /opt/torch, at most 64 MiB carried per call).
#
#   scripts/gpu-check.sh prepare   # HERE: build + stage everything under .gpu*/ (git-ignored)
#   scripts/gpu-check.sh stage N   # THERE, calls 1-5 (CUDA only): copy part N of the
#                                  # onnxruntime-gpu wheel to /tmp/cu (carry .gpu-cuN)
#   scripts/gpu-check.sh run       # THERE, last call: CPU, WebGPU and (if staged) CUDA
#                                  # (carry .gpu and .gl)
#
# Device-tool calls, back to back so the machine stays warm between them
# (files under /tmp survive on a warm machine):
#   run(command="bash scripts/gpu-check.sh stage 1", carry=[".gpu-cu1"])   ... stage 5
# (the 255.6 MB wheel is split in GPU_CHECK_PARTS=5 parts of ~49 MiB so that a
# part plus the working tree stays under the 64 MiB a call may carry)
#   run(command="bash scripts/gpu-check.sh run", carry=[".gpu", ".gl"], timeout_s=420)
# For WebGPU alone, the last call is enough.
#
# Results: one JSON line per benchmark on stdout, and $OUT/gpu-check.jsonl.
# Each line has "placement" (graph nodes per execution provider, from ONNX
# Runtime's profile) so a silent CPU fallback cannot pass for a GPU run, and
# "cpu_agreement" (cosine of each GPU vector with the CPU vector, min/mean).
set -uo pipefail
cd "$(dirname "$0")/.."

GPU_DIR=.gpu
GL_DIR=.gl

prepare() {
    set -e
    for d in "/$GPU_DIR/" "/$GPU_DIR-cu*/" "/$GL_DIR/"; do
        grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
    done
    mkdir -p "$GPU_DIR/model"
    local model_dir
    model_dir="$(bash scripts/setup-model.sh)"
    cp -f "$model_dir/model.onnx" "$model_dir/tokenizer.json" "$GPU_DIR/model/"

    # The benchmark binary, with the CUDA execution provider compiled in.
    cargo build --release -p agg-score --features cuda --example embed_bench
    cp -f target/release/examples/embed_bench "$GPU_DIR/embed_bench"
    strip "$GPU_DIR/embed_bench" 2>/dev/null || true

    # Inputs: the development headlines if present, else the small test file.
    local input=../shared/data/interests/agnews-dev.jsonl
    [[ -f "$input" ]] || input=crates/agg-score/tests/data/small.jsonl
    cp -f "$input" "$GPU_DIR/input.jsonl"

    # WebGPU plugin EP (16.5 MB; carried xz-compressed).
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/agg/wheels"
    mkdir -p "$cache"
    ls "$cache"/onnxruntime_ep_webgpu-0.4.0-*.whl >/dev/null 2>&1 ||
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
            --platform manylinux_2_28_x86_64 onnxruntime-ep-webgpu==0.4.0 -d "$cache"
    python3 - "$(ls "$cache"/onnxruntime_ep_webgpu-0.4.0-*.whl | head -n1)" "$GPU_DIR" <<'PY'
import lzma, sys, zipfile
whl, out = sys.argv[1:3]
data = zipfile.ZipFile(whl).read("onnxruntime_ep_webgpu/libonnxruntime_providers_webgpu.so")
with lzma.open(f"{out}/libonnxruntime_providers_webgpu.so.xz", "wb", preset=6) as f:
    f.write(data)
PY

    # Vulkan loader + GL vendor-neutral libraries for the NVIDIA ICD.
    mkdir -p "$GL_DIR" /tmp/amd64/partial
    local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    if ! ls "$GL_DIR"/libvulkan1_*.deb >/dev/null 2>&1; then
        apt-get "${o[@]}" update -qq
        (cd "$GL_DIR" && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    fi

    # CUDA: the onnxruntime-gpu wheel (CUDA 13 build) in parts, one per call.
    local parts="${GPU_CHECK_PARTS:-5}"
    if [[ "$(cat "$GPU_DIR/cu-parts" 2>/dev/null)" != "$parts" ]]; then
        ls "$cache"/onnxruntime_gpu-1.31.1-*.whl >/dev/null 2>&1 ||
            python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
                --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
                onnxruntime-gpu==1.31.1 -d "$cache"
        local whl
        whl="$(ls "$cache"/onnxruntime_gpu-1.31.1-*.whl | head -n1)"
        rm -rf /tmp/agg-cu-split && mkdir -p /tmp/agg-cu-split
        split -n "$parts" -d -a 2 "$whl" /tmp/agg-cu-split/part
        rm -rf "$GPU_DIR"-cu*
        local i=1 f
        for f in /tmp/agg-cu-split/part*; do
            mkdir -p "$GPU_DIR-cu$i"
            mv "$f" "$GPU_DIR-cu$i/"
            i=$((i + 1))
        done
        sha256sum "$whl" | cut -d' ' -f1 >"$GPU_DIR/onnxruntime_gpu.sha256"
        echo "$parts" >"$GPU_DIR/cu-parts"
    fi
    du -sh "$GPU_DIR" "$GL_DIR" "$GPU_DIR"-cu* >&2
    echo "gpu-check: staged. Carry [.gpu, .gl] for 'run' (WebGPU + CUDA if staged)," \
        "and .gpu-cuN for 'stage N'." >&2
}

stage() {
    local n="$1"
    mkdir -p /tmp/cu
    cp -f "$GPU_DIR-cu$n"/part* /tmp/cu/ && ls -la /tmp/cu
}

run_checks() {
    local out="${OUT:-/tmp/gpu-check-out}"
    mkdir -p "$out"
    local results="$out/gpu-check.jsonl"
    : >"$results"
    local bin="$PWD/$GPU_DIR/embed_bench" input="$PWD/$GPU_DIR/input.jsonl"
    local sp=/opt/torch/.venv/lib/python3.12/site-packages
    local ort_cpu="$sp/onnxruntime/capi/libonnxruntime.so.1.30.0"
    export AGG_MODEL_DIR="$PWD/$GPU_DIR/model"
    export RUST_LOG="${RUST_LOG:-info}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt"

    bench() { # label, env..., -- args...
        local label="$1"
        shift
        echo "== $label" >&2
        local line
        if line="$(env "$@" 2>>"$out/bench.log" | tail -n1)" && [[ -n "$line" ]]; then
            echo "$line" | tee -a "$results"
        else
            echo "{\"label\": \"$label\", \"error\": \"failed, see bench.log\"}" | tee -a "$results"
            tail -n 5 "$out/bench.log" >&2
        fi
    }

    # 1. CPU baseline (16 cores, ONNX Runtime 1.30 from the machine's venv).
    bench "cpu 32 tokens" ORT_DYLIB_PATH="$ort_cpu" "$bin" --input "$input" --field title_text \
        --max-tokens 32 --batch 256 --n 4096 --repeat 3 --device cpu
    bench "cpu 128 tokens" ORT_DYLIB_PATH="$ort_cpu" "$bin" --input "$input" --field title_text \
        --max-tokens 128 --batch 256 --n 2048 --repeat 3 --device cpu

    # 2. WebGPU plugin EP (Vulkan), on the same CPU runtime.
    if [[ -f "$GPU_DIR/libonnxruntime_providers_webgpu.so.xz" ]]; then
        if [[ -d "$GL_DIR" ]]; then
            for f in "$GL_DIR"/*.deb; do dpkg -x "$f" /; done
            ldconfig
        fi
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
        export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
        mkdir -p /tmp/webgpu
        xz -dc "$GPU_DIR/libonnxruntime_providers_webgpu.so.xz" >/tmp/webgpu/libonnxruntime_providers_webgpu.so
        bench "webgpu 32 tokens" ORT_DYLIB_PATH="$ort_cpu" \
            AGG_WEBGPU_EP_PATH=/tmp/webgpu/libonnxruntime_providers_webgpu.so "$bin" --input "$input" \
            --field title_text --max-tokens 32 --batch 256 --n 16384 --repeat 3 --device webgpu --compare-cpu
        bench "webgpu 128 tokens" ORT_DYLIB_PATH="$ort_cpu" \
            AGG_WEBGPU_EP_PATH=/tmp/webgpu/libonnxruntime_providers_webgpu.so "$bin" --input "$input" \
            --field title_text --max-tokens 128 --batch 256 --n 4096 --repeat 3 --device webgpu --compare-cpu
    else
        echo "gpu-check: no WebGPU plugin staged, skipping WebGPU" >&2
    fi

    # 3. CUDA EP with the onnxruntime-gpu runtime staged by 'stage 1..4'.
    local want have
    want="$(cat "$GPU_DIR/cu-parts" 2>/dev/null || echo 5)"
    have="$(ls /tmp/cu/part* 2>/dev/null | wc -l)"
    if [[ "$have" -ge "$want" ]]; then
        if [[ ! -d /tmp/cu/x ]]; then
            cat $(ls /tmp/cu/part* | sort) >/tmp/cu/ort-gpu.whl
            if [[ -f "$GPU_DIR/onnxruntime_gpu.sha256" ]] &&
                [[ "$(sha256sum /tmp/cu/ort-gpu.whl | cut -d' ' -f1)" != "$(cat "$GPU_DIR/onnxruntime_gpu.sha256")" ]]; then
                echo "gpu-check: joined onnxruntime-gpu wheel has the wrong sha256; re-stage" >&2
            fi
            python3 -m zipfile -e /tmp/cu/ort-gpu.whl /tmp/cu/x
        fi
        local capi=/tmp/cu/x/onnxruntime/capi
        local ld="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:$sp/nvidia/cu13/lib:$sp/nvidia/cudnn/lib:$capi"
        bench "cuda 32 tokens" LD_LIBRARY_PATH="$ld" ORT_DYLIB_PATH="$capi/libonnxruntime.so.1.31.1" "$bin" \
            --input "$input" --field title_text --max-tokens 32 --batch 1024 --n 65536 --repeat 3 \
            --device cuda --compare-cpu
        bench "cuda 128 tokens" LD_LIBRARY_PATH="$ld" ORT_DYLIB_PATH="$capi/libonnxruntime.so.1.31.1" "$bin" \
            --input "$input" --field title_text --max-tokens 128 --batch 256 --n 16384 --repeat 3 \
            --device cuda --compare-cpu
    else
        echo "gpu-check: onnxruntime-gpu not staged in /tmp/cu ($have of $want parts; run 'stage 1'..'stage $want' first), skipping CUDA" >&2
    fi
    grep -E "embedding model ready|WebGPU device|error" "$out/bench.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -n 20 >&2
}

case "${1:-}" in
prepare) prepare ;;
stage) stage "${2:?stage needs a part number 1-4}" ;;
run) run_checks ;;
*)
    sed -n '2,25p' "$0"
    exit 2
    ;;
esac
