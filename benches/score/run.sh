#!/usr/bin/env bash
# Scoring throughput and peak memory on real feed texts: the embedder's old
# settings ("before") beside its current defaults ("after"), interleaved in
# one run so that a neighbour's load hits both alike. See README.md here.
#
#   benches/score/run.sh                 # N=2000 texts, ROUNDS=3, then 20,000 once
#   N=1000 ROUNDS=5 BIG=0 benches/score/run.sh
#   VARIANTS=1 benches/score/run.sh      # also each setting alone, against "before"
#
# Env: N (texts per measured run, 2000), ROUNDS (alternating before/after
# pairs, 3), BIG (texts of the one large "after" run, 20000; 0 skips it),
# VARIANTS (1: one lever at a time), PROFILE (release | debug: which build of
# embed_bench; release by default, debug when no release build is wanted).
#
# Texts: every entry of ../shared/data/feeds/real (benches/score/make-corpus.py),
# title + text as agg embeds them (agg_score::item_text), cycled to N.
set -euo pipefail
cd "$(dirname "$0")/../.."

N="${N:-2000}"
ROUNDS="${ROUNDS:-3}"
BIG="${BIG:-20000}"
VARIANTS="${VARIANTS:-0}"
PROFILE="${PROFILE:-release}"
OUT=target/score-bench
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# ../shared beside the checkout (a worktree one level deeper: ../../shared).
if [[ -z "${FEEDS:-}" ]]; then
    for d in ../shared ../../shared; do
        [[ -d "$d/data/feeds/real" ]] && FEEDS="$d/data/feeds/real" && break
    done
fi
[[ -n "${FEEDS:-}" ]] || { echo "score-bench: no shared/data/feeds/real found; set FEEDS" >&2; exit 1; }
CORPUS="$OUT/corpus.jsonl"
python3 benches/score/make-corpus.py "$FEEDS" "$CORPUS"
bash scripts/setup-model.sh --int8 >/dev/null

if [[ "$PROFILE" == release ]]; then
    cargo build --quiet --release -p agg-score --example embed_bench
    BIN=target/release/examples/embed_bench
else
    cargo build --quiet -p agg-score --example embed_bench
    BIN=target/debug/examples/embed_bench
fi

# The settings before issue 21, spelled out so that "before" stays the same
# whatever the defaults become.
BEFORE=(--max-tokens 256 --batch 64 --batch-tokens 4096 --arena on --mem-pattern on --cpu-int8 off)
AFTER=()
# The current defaults with the opt-in int8 model (`cpu_int8: true`).
AFTER_INT8=(--cpu-int8 on)

one() { # LABEL N ARGS...
    local label="$1" n="$2"
    shift 2
    RUST_LOG=warn "$BIN" --input "$CORPUS" --field title_text --n "$n" --repeat 1 --device cpu "$@" |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["label"]=sys.argv[1]; print(json.dumps(r))' "$label" |
        tee -a "$RESULTS"
}

echo "score-bench: $(wc -l <"$CORPUS") feed entries, n=$N, $ROUNDS rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$ROUNDS"); do
    one before "$N" "${BEFORE[@]}"
    one after "$N" "${AFTER[@]}"
    one "after + int8 model" "$N" "${AFTER_INT8[@]}"
    if [[ "$VARIANTS" == 1 ]]; then
        one "cap 128" "$N" "${BEFORE[@]}" --max-tokens 128
        one "cap 64" "$N" "${BEFORE[@]}" --max-tokens 64
        one "batch 16" "$N" "${BEFORE[@]}" --batch 16
        one "threads 2" "$N" "${BEFORE[@]}" --threads "$(nproc)"
        one "no arena, no pattern" "$N" "${BEFORE[@]}" --arena off --mem-pattern off
        one "int8 model" "$N" "${BEFORE[@]}" --cpu-int8 on
    fi
done
if [[ "$BIG" -gt 0 ]]; then
    one "after big" "$BIG" "${AFTER[@]}"
    one "after + int8 model big" "$BIG" "${AFTER_INT8[@]}"
fi

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(r)
def med(label, key):
    return statistics.median(r[key] for r in by[label])
print(f"{'setting':<22} {'runs':>4} {'items/s (median)':>17} {'peak RSS MiB':>13} {'vs before':>10}")
base = med("before", "items_per_s_median")
for label, rs in by.items():
    ips = med(label, "items_per_s_median")
    rss = med(label, "peak_rss_mib")
    print(f"{label:<22} {len(rs):>4} {ips:>17.1f} {rss:>13.0f} {ips / base:>9.2f}x")
for label in ("after big", "after + int8 model big"):
    if label in by:
        r = by[label][0]
        print(f"{label}: {r['n']} texts in {r['best_s']:.1f} s embedding + {r['load_s']:.1f} s loading, "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB")
PY
echo "score-bench: raw rows in $RESULTS" >&2
