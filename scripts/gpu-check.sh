#!/usr/bin/env bash
# GPU check for agg's embeddings, prepared here and run on a lent GPU machine
# (NVIDIA H100/H200 as described in ../shared/ENV-NOTES.md: no Rust, no
# network, ONNX Runtime 1.30 (CPU) and PyTorch + the nvidia-* CUDA 13 / cuDNN 9
# libraries in /opt/torch, at most 64 MiB carried per call).
#
# What it shows, side by side in one run: CPU, CUDA and WebGPU throughput of
# agg's own embedder (crates/agg-score/examples/embed_bench.rs, release build,
# the CUDA provider compiled in by default), the cosine of every GPU vector
# with the CPU vector of the same text (target >= 0.9999), the graph nodes per
# execution provider from ONNX Runtime's profile (a GPU row whose nodes ran on
# the CPU FAILS: a silent CPU fallback cannot pass), and PyTorch fp32 on the
# same GPU for a MiniLM-shaped encoder at the same shapes (target: agg CUDA
# >= 1.0x PyTorch fp32).
#
# CUDA is run the way a user's machine runs it: `device: auto`, no
# ORT_DYLIB_PATH, no LD_LIBRARY_PATH. The run step lays out <model>/cuda/ as
# `scripts/setup-model.sh --gpu cuda` does (ONNX Runtime GPU from the carried
# onnxruntime-gpu wheel; the NVIDIA libraries copied from the machine's
# /opt/torch nvidia-* packages, the same sonames the script installs) and
# agg must pick CUDA by itself.
#
#   scripts/gpu-check.sh prepare   # HERE: build + stage everything (git-ignored folders)
#   scripts/gpu-check.sh stage N   # THERE, calls 1..5: copy part N of the
#                                  # onnxruntime-gpu wheel to /tmp/cu (carry .gpu-cuN)
#   scripts/gpu-check.sh run       # THERE, last call (carry .gpu and .gl)
#
# Device-tool calls, back to back so the machine stays warm (files under /tmp
# survive between the calls of one warm machine; ~60 s of device time in all):
#   run(command="bash scripts/gpu-check.sh stage 1", carry=[".gpu-cu1"])  ... stage 5
#   run(command="bash scripts/gpu-check.sh run", carry=[".gpu", ".gl"], timeout_s=420)
# For CPU + WebGPU alone, the last call is enough. The device tool sends the
# checkout the session started in (the lead's), so run `prepare` there.
#
# Dry run without a GPU (checks the layout, and that a CPU fallback FAILs):
#   for i in 1 2 3 4 5; do scripts/gpu-check.sh stage $i; done
#   GPU_CHECK_SP=<dir with nvidia/*/lib> GPU_CHECK_ORT_CPU=<libonnxruntime.so> \
#     GPU_CHECK_SCALE=256 OUT=/tmp/x scripts/gpu-check.sh run
#
# Results: $OUT/gpu-check.jsonl (one JSON line per row), $OUT/summary.txt
# (PASS/FAIL per criterion), $OUT/bench.log (stderr of every run).
set -uo pipefail
cd "$(dirname "$0")/.."

GPU_DIR=.gpu
GL_DIR=.gl
ORT_GPU_WHEEL=onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_GPU_SHA=e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6

prepare() {
    set -e
    local exclude
    exclude="$(git rev-parse --git-path info/exclude)" # a worktree's .git is a file
    mkdir -p "$(dirname "$exclude")"
    for d in "/$GPU_DIR/" "/$GPU_DIR-cu*/" "/$GL_DIR/"; do
        grep -qxF "$d" "$exclude" 2>/dev/null || echo "$d" >>"$exclude"
    done
    mkdir -p "$GPU_DIR/model"
    local model_dir
    model_dir="$(bash scripts/setup-model.sh)"
    cp -f "$model_dir/model.onnx" "$model_dir/tokenizer.json" "$GPU_DIR/model/"

    # The benchmark binary; the CUDA provider is in the default features.
    cargo build --release -p agg-score --example embed_bench
    cp -f target/release/examples/embed_bench "$GPU_DIR/embed_bench"
    strip "$GPU_DIR/embed_bench" 2>/dev/null || true
    cp -f benches/score/torch_ref.py "$GPU_DIR/torch_ref.py"

    # Inputs: the development headlines (titles and title + text).
    local input=../shared/data/interests/agnews-dev.jsonl
    [[ -f "$input" ]] || input=crates/agg-score/tests/data/small.jsonl
    cp -f "$input" "$GPU_DIR/input.jsonl"

    # WebGPU plugin EP (16.5 MB; carried xz-compressed), from the same
    # package and with the same sha256 as `setup-model.sh --gpu webgpu`.
    local tmpm
    tmpm="$(mktemp -d)"
    bash scripts/setup-model.sh --gpu webgpu "$tmpm" >/dev/null
    xz -6 -c "$tmpm/libonnxruntime_providers_webgpu.so" >"$GPU_DIR/libonnxruntime_providers_webgpu.so.xz"
    rm -rf "$tmpm"

    # Vulkan loader + GL vendor-neutral libraries for the NVIDIA ICD.
    mkdir -p "$GL_DIR" /tmp/amd64/partial
    local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    if ! ls "$GL_DIR"/libvulkan1_*.deb >/dev/null 2>&1; then
        apt-get "${o[@]}" update -qq
        (cd "$GL_DIR" && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    fi

    # CUDA: the onnxruntime-gpu wheel (CUDA 13 build), in parts, one per call.
    local cache="${AGG_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agg/wheels}"
    local parts="${GPU_CHECK_PARTS:-5}"
    if [[ "$(cat "$GPU_DIR/cu-parts" 2>/dev/null)" != "$parts" ]]; then
        [[ -f "$cache/$ORT_GPU_WHEEL" ]] ||
            python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
                --platform manylinux_2_28_x86_64 onnxruntime-gpu==1.31.1 -d "$cache"
        [[ "$(sha256sum "$cache/$ORT_GPU_WHEEL" | cut -d' ' -f1)" == "$ORT_GPU_SHA" ]] ||
            { echo "gpu-check: $ORT_GPU_WHEEL has the wrong sha256" >&2; exit 1; }
        rm -rf /tmp/agg-cu-split && mkdir -p /tmp/agg-cu-split
        split -n "$parts" -d -a 2 "$cache/$ORT_GPU_WHEEL" /tmp/agg-cu-split/part
        rm -rf "$GPU_DIR"-cu*
        local i=1 f
        for f in /tmp/agg-cu-split/part*; do
            mkdir -p "$GPU_DIR-cu$i"
            mv "$f" "$GPU_DIR-cu$i/"
            i=$((i + 1))
        done
        echo "$parts" >"$GPU_DIR/cu-parts"
    fi
    du -sh "$GPU_DIR" "$GL_DIR" "$GPU_DIR"-cu* >&2
    echo "gpu-check: staged. Carry [.gpu, .gl] for 'run', .gpu-cuN for 'stage N'." >&2
}

stage() {
    local n="$1"
    mkdir -p /tmp/cu
    cp -f "$GPU_DIR-cu$n"/part* /tmp/cu/ && ls -la /tmp/cu
}

# Lays out /tmp/agg-models/cuda like `setup-model.sh --gpu cuda`, from the
# joined wheel and the machine's nvidia-* packages. Returns 1 if incomplete.
cuda_layout() {
    local models="$1" sp="$2"
    local want have
    want="$(cat "$GPU_DIR/cu-parts" 2>/dev/null || echo 5)"
    have="$(ls /tmp/cu/part* 2>/dev/null | wc -l)"
    if [[ "$have" -lt "$want" ]]; then
        echo "gpu-check: onnxruntime-gpu not staged ($have of $want parts; run 'stage 1'..'stage $want' first)" >&2
        return 1
    fi
    if [[ ! -d /tmp/cu/x ]]; then
        cat $(ls /tmp/cu/part* | sort) >/tmp/cu/ort-gpu.whl
        if [[ "$(sha256sum /tmp/cu/ort-gpu.whl | cut -d' ' -f1)" != "$ORT_GPU_SHA" ]]; then
            echo "gpu-check: the joined onnxruntime-gpu wheel has the wrong sha256; stage again" >&2
            return 1
        fi
        python3 -m zipfile -e /tmp/cu/ort-gpu.whl /tmp/cu/x
    fi
    local c="$models/cuda"
    mkdir -p "$c"
    cp -f /tmp/cu/x/onnxruntime/capi/libonnxruntime.so.1.31.1 \
        /tmp/cu/x/onnxruntime/capi/libonnxruntime_providers_shared.so \
        /tmp/cu/x/onnxruntime/capi/libonnxruntime_providers_cuda.so "$c/"
    local lib src
    for lib in libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libcurand.so.10 libcudnn.so.9 \
        libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_heuristic.so.9 libcudnn_engines_precompiled.so.9 \
        libcudnn_engines_runtime_compiled.so.9 libcudnn_engines_tensor_ir.so.9 libcudnn_cnn.so.9 \
        libcudnn_adv.so.9 libcudnn_ext.so.9; do
        src="$(ls "$sp"/nvidia/*/lib/"$lib" /usr/local/cuda*/targets/x86_64-linux/lib/"$lib" 2>/dev/null | head -n1)"
        if [[ -z "$src" ]]; then
            echo "gpu-check: $lib not found on this machine" >&2
            continue
        fi
        cp -fL "$src" "$c/$lib"
    done
    printf '%s\n' "# laid out by scripts/gpu-check.sh like setup-model.sh --gpu cuda" "cuda 13" \
        "runtime libonnxruntime.so.1.31.1" "preload libcudart.so.13" "preload libcublasLt.so.13" \
        "preload libcublas.so.13" "preload libcurand.so.10" "preload libcudnn.so.9" >"$c/agg-cuda.txt"
}

run_checks() {
    local out="${OUT:-/tmp/gpu-check-out}"
    mkdir -p "$out"
    local results="$out/gpu-check.jsonl" log="$out/bench.log"
    : >"$results"
    : >"$log"
    local bin="$PWD/$GPU_DIR/embed_bench" input="$PWD/$GPU_DIR/input.jsonl"
    # GPU_CHECK_SP / GPU_CHECK_SCALE: only for a dry run of this script on a
    # machine without the GPU box's layout (fewer texts per row).
    local sp="${GPU_CHECK_SP:-/opt/torch/.venv/lib/python3.12/site-packages}"
    local py=/opt/torch/.venv/bin/python
    local k="${GPU_CHECK_SCALE:-1}"
    local ort_cpu="${GPU_CHECK_ORT_CPU:-$sp/onnxruntime/capi/libonnxruntime.so.1.30.0}"
    local models=/tmp/agg-models
    mkdir -p "$models"
    cp -f "$GPU_DIR/model/model.onnx" "$GPU_DIR/model/tokenizer.json" "$models/"
    unset LD_LIBRARY_PATH ORT_DYLIB_PATH AGG_WEBGPU_EP_PATH
    export AGG_MODEL_DIR="$models" RUST_LOG="${RUST_LOG:-info}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/gpu.txt"

    row() { # label, env..., -- args... : one JSON line into results
        local label="$1"
        shift
        echo "== $label" | tee -a "$log" >&2
        local line
        if line="$(env "$@" 2>>"$log" | tail -n1)" && [[ -n "$line" ]]; then
            echo "$line" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["label"]=sys.argv[1]; print(json.dumps(r))' "$label" | tee -a "$results"
        else
            echo "{\"label\": \"$label\", \"error\": \"failed, see bench.log\"}" | tee -a "$results"
            tail -n 5 "$log" >&2
        fi
    }
    local t32=(--input "$input" --field title --max-tokens 32)
    local t128=(--input "$input" --field title_text --max-tokens 128)

    # 1. CPU baseline: 16 cores, the machine's ONNX Runtime 1.30 (CPU build).
    row "cpu 32" ORT_DYLIB_PATH="$ort_cpu" "$bin" "${t32[@]}" --batch 256 --n $((4096 / k)) --repeat 3 --device cpu
    row "cpu 128" ORT_DYLIB_PATH="$ort_cpu" "$bin" "${t128[@]}" --batch 256 --n $((2048 / k)) --repeat 3 --device cpu

    # 2. CUDA, found by `device: auto` with nothing set (the user's path).
    if cuda_layout "$models" "$sp"; then
        row "cuda auto 32" "$bin" "${t32[@]}" --batch 1024 --n $((65536 / k)) --repeat 3 --device auto --compare-cpu
        # The same with pooling on the host (every token vector copied off the
        # device), as before the pooling head: the head's gain in one run.
        row "cuda auto 32 host-pool" "$bin" "${t32[@]}" --batch 1024 --n $((65536 / k)) --repeat 3 --device auto \
            --compare-cpu --device-pool off
        row "cuda auto 128" "$bin" "${t128[@]}" --batch 256 --n $((16384 / k)) --repeat 3 --device auto --compare-cpu
        row "cuda auto 128 b64" "$bin" "${t128[@]}" --batch 64 --n $((16384 / k)) --repeat 3 --device auto --compare-cpu
    fi
    rm -rf "$models/cuda" # the WebGPU rows load the CPU runtime

    # 3. WebGPU plugin EP (Vulkan) on the machine's CPU runtime.
    if [[ -f "$GPU_DIR/libonnxruntime_providers_webgpu.so.xz" ]]; then
        # Unpacked into / only where the NVIDIA device is (the lent machine).
        if [[ -d "$GL_DIR" && -e /dev/nvidia0 ]]; then
            for f in "$GL_DIR"/*.deb; do dpkg -x "$f" /; done
            ldconfig
        fi
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
        export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
        xz -dc "$GPU_DIR/libonnxruntime_providers_webgpu.so.xz" >"$models/libonnxruntime_providers_webgpu.so"
        row "webgpu auto 32" ORT_DYLIB_PATH="$ort_cpu" "$bin" "${t32[@]}" --batch 256 --n $((16384 / k)) --repeat 3 \
            --device auto --compare-cpu
        row "webgpu 128" ORT_DYLIB_PATH="$ort_cpu" "$bin" "${t128[@]}" --batch 256 --n $((4096 / k)) --repeat 3 \
            --device webgpu --compare-cpu
    fi

    # 4. PyTorch fp32 (and fp16) on the same GPU, MiniLM-shaped, same shapes.
    echo "== torch" | tee -a "$log" >&2
    if [[ -x "$py" ]]; then
        "$py" "$GPU_DIR/torch_ref.py" 2>>"$log" | tee -a "$results"
    else
        echo "gpu-check: no PyTorch at $py: no fp32 reference" | tee -a "$log" >&2
    fi

    python3 - "$results" <<'PY' | tee "$out/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
torch = {(r["seq"], r["dtype"]): r["items_per_s"] for r in rows if r.get("impl") == "torch"}
fail = 0
for r in rows:
    if "label" not in r:
        continue
    if "error" in r:
        print(f"FAIL {r['label']}: {r['error']}"); fail += 1; continue
    prov = r["provider"]
    place = r.get("placement") or {}
    total = sum(place.values())
    on = sum(v for k, v in place.items() if prov in k.lower())
    line = f"{r['label']:<22} provider {prov:<6} {r['items_per_s_median']:>9.0f} items/s  nodes {on}/{total} on {prov}"
    line += "  pooled on device" if r.get("device_pooling") else "  pooled on host"
    ok = True
    want = r["label"].split()[0]
    if want != "cpu":
        if prov != want:
            line += f"  FAIL: asked for {want}, ran on {prov}"; ok = False
        if total == 0 or on * 2 < total:
            line += "  FAIL: most nodes not on the GPU"; ok = False
        agree = r.get("cpu_agreement") or {}
        cmin = agree.get("cos_min")
        line += f"  cos_min {cmin}"
        if cmin is None or cmin < 0.9999:
            line += "  FAIL: cosine < 0.9999"; ok = False
        ref = torch.get((r["max_tokens"], "fp32"))
        if ref and prov == "cuda":
            line += f"  vs torch fp32 {r['items_per_s_median'] / ref:.2f}x"
    print(("PASS " if ok else "FAIL ") + line)
    fail += not ok
for (seq, dt), v in sorted(torch.items()):
    print(f"torch {dt} seq {seq}: {v:.0f} items/s")
print("gpu-check:", "all PASS" if fail == 0 else f"{fail} FAIL")
PY
}

case "${1:-}" in
prepare) prepare ;;
stage) stage "${2:?stage needs a part number}" ;;
run) run_checks ;;
*)
    sed -n '2,40p' "$0"
    exit 2
    ;;
esac
