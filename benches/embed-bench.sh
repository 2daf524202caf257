#!/usr/bin/env bash
# CPU embedding throughput: agg (Rust, ort) beside Python onnxruntime, same
# model file, same tokenizer, same inputs, same batch size, same truncation,
# same pooling, same ONNX Runtime version (1.32.0), in one run, interleaved so
# that background load hits both alike.
#
#   benches/embed-bench.sh [INPUT.jsonl]
#
# Env: N_TITLE (headlines per run, 1024), N_TEXT (title + lead texts per run,
# 384), BATCH (64), MAX_TOKENS (256), REPEAT (timed passes per process, best
# and median kept, 2), ROUNDS (interleaved process rounds, 2), AGG_BENCH_PY
# (pip --target dir for the Python side).
#
# Two agg rows per workload: "same order" embeds the texts in input order,
# exactly the batches Python sees (the like-for-like comparison); "sorted" is
# agg's default, which sorts by token count so batches pad less.
set -euo pipefail
cd "$(dirname "$0")/.."

INPUT="${1:-${AGG_BENCH_INPUT:-../shared/data/interests/agnews-dev.jsonl}}"
[[ -f "$INPUT" ]] || INPUT=crates/agg-score/tests/data/small.jsonl
N_TITLE="${N_TITLE:-1024}"
N_TEXT="${N_TEXT:-384}"
BATCH="${BATCH:-64}"
MAX_TOKENS="${MAX_TOKENS:-256}"
REPEAT="${REPEAT:-2}"
ROUNDS="${ROUNDS:-2}"
PYDIR="${AGG_BENCH_PY:-${XDG_CACHE_HOME:-$HOME/.cache}/agg/bench-py}"
OUT="target/embed-bench"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

MODEL_DIR="$(bash scripts/setup-model.sh)"

# The Python side must run the same ONNX Runtime version as agg (1.32.0).
if ! PYTHONPATH="$PYDIR" python3 -c "import sys, numpy, tokenizers, onnxruntime as o; sys.exit(o.__version__ != '1.32.0')" 2>/dev/null; then
    echo "embed-bench: installing onnxruntime==1.32.0, tokenizers, numpy into $PYDIR" >&2
    python3 -m pip install --quiet --target "$PYDIR" onnxruntime==1.32.0 tokenizers numpy >&2
fi

cargo build --quiet --release -p agg-score --example embed_bench
BIN=target/release/examples/embed_bench

echo "embed-bench: input $INPUT, n=$N_TITLE/$N_TEXT, batch=$BATCH, max_tokens=$MAX_TOKENS, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for field in title title_text; do
    N="$N_TITLE"
    [[ "$field" == title_text ]] && N="$N_TEXT"
    for round in $(seq "$ROUNDS"); do
        echo "embed-bench: $field round $round" >&2
        RUST_LOG=warn "$BIN" --input "$INPUT" --field "$field" --n "$N" --batch "$BATCH" \
            --max-tokens "$MAX_TOKENS" --repeat "$REPEAT" --no-sort \
            --dump "$OUT/agg-$field.f32" >>"$RESULTS"
        PYTHONPATH="$PYDIR" python3 benches/embed/py_bench.py "$MODEL_DIR" "$INPUT" "$field" \
            "$N" "$BATCH" "$MAX_TOKENS" "$REPEAT" "$OUT/py-$field.f32" >>"$RESULTS"
        RUST_LOG=warn "$BIN" --input "$INPUT" --field "$field" --n "$N" --batch "$BATCH" \
            --max-tokens "$MAX_TOKENS" --repeat "$REPEAT" >>"$RESULTS"
    done
done

PYTHONPATH="$PYDIR" python3 - "$RESULTS" "$OUT" <<'PY'
import json, sys, statistics
import numpy as np
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = sys.argv[2]
def key(r):
    if r["impl"].startswith("agg"):
        return "agg sorted" if r["sorted_by_length"] else "agg same order"
    return "python"
print(f"{'workload':<11} {'implementation':<16} {'items/s (median of runs)':>25} {'best':>8}")
for field in ("title", "title_text"):
    by = {}
    for r in rows:
        if r["field"] == field:
            by.setdefault(key(r), []).append(r)
    med = {}
    for k in ("agg same order", "python", "agg sorted"):
        rs = by.get(k, [])
        if not rs:
            continue
        med[k] = statistics.median(r["items_per_s_median"] for r in rs)
        best = max(r["items_per_s_best"] for r in rs)
        print(f"{field:<11} {k:<16} {med[k]:>25.1f} {best:>8.1f}")
    if "python" in med:
        for k in ("agg same order", "agg sorted"):
            if k in med:
                print(f"{field:<11} ratio {k} / python = {med[k] / med['python']:.2f}")
    a = np.fromfile(f"{out}/agg-{field}.f32", dtype="<f4").reshape(-1, 384)
    p = np.fromfile(f"{out}/py-{field}.f32", dtype="<f4").reshape(-1, 384)
    cos = (a * p).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(p, axis=1))
    print(f"{field:<11} agg vs python embeddings: cosine min {cos.min():.6f} over {len(cos)} texts")
PY
echo "embed-bench: raw results in $RESULTS" >&2
