#!/usr/bin/env bash
# The daily run of issue 21: 500 feeds served from 127.0.0.1 (the real feed
# files of ../shared/data/feeds/real, each repeated under several URLs, as
# benches/ingest serves them), one `agg run` of fetch → dedupe → score →
# sagas → jsonl into a fresh SQLite store, with the default model and with
# the opt-in int8 model (`cpu_int8: true`), alternately. Wall time and peak
# RSS from GNU time; the median run of each is printed, every run too.
#
#   benches/daily/run.sh                  # N=500 feeds, TRIES=3
#   N=200 TRIES=1 benches/daily/run.sh
#
# Needs the model (scripts/setup-model.sh --int8 makes both) and GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/ingest/lib.sh
. benches/ingest/lib.sh
REPO=$PWD
N=${N:-500}
CONC=${CONC:-8}
TRIES=${TRIES:-3}
CORPUS=${AGG_FEED_CORPUS:-$REPO/../shared/data/feeds}
FEEDS=$CORPUS/real
[ -d "$FEEDS" ] || { echo "feed corpus not found at $FEEDS (set AGG_FEED_CORPUS)"; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install -y time"; exit 2; }
bash scripts/setup-model.sh --int8 >/dev/null

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
echo "building (release)…" >&2
cargo build --release -q -p agg --bin agg
cargo build --release -q -p agg-fetch --example bench_serve
AGG=$TARGET/release/agg

WORK=$(mktemp -d /tmp/agg-daily-bench.XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
start_feeds

# The ingest pipeline of lib.sh, then the rest of a daily run after it.
write_pipeline
pipeline() { # INT8 (true|false) -> $WORK/p-$1.yaml
  {
    cat "$WORK/p.yaml"
    echo "  fresh: { kind: dedupe, inputs: [web] }"
    echo "  scored:"
    echo "    kind: score"
    echo "    inputs: [fresh]"
    echo "    interests:"
    echo "      like: [\"programming languages\", \"space exploration\", \"climate policy\"]"
    echo "      dislike: [\"celebrity gossip\"]"
    echo "    device: cpu"
    echo "    cpu_int8: $1"
    echo "  sagas: { kind: saga, inputs: [scored] }"
    echo "  out: { kind: jsonl, inputs: [sagas], path: $WORK/out.jsonl }"
  } >"$WORK/p-$1.yaml"
}
pipeline false
pipeline true

for int8 in false true; do : >"$WORK/runs-$int8"; done
for t in $(seq "$TRIES"); do
  for int8 in false true; do
    rm -f "$WORK"/agg.db* "$WORK/out.jsonl"
    measure "$WORK/time-$int8" "$AGG" --db "$WORK/agg.db" run "$WORK/p-$int8.yaml" >>"$WORK/runs-$int8"
    # The corpus holds a few broken feeds on purpose, so the run ends
    # "partial" (exit 1); what it wrote is the check.
    [ -s "$WORK/out.jsonl" ] || { grep -v "^[[:space:]]" "$WORK/time-$int8" | tail -8 >&2; exit 1; }
    items=$(wc -l <"$WORK/out.jsonl")
    echo "try $t, cpu_int8 $int8: $(tail -1 "$WORK/runs-$int8") (wall s, peak RSS KiB), $items items out" >&2
  done
done
for int8 in false true; do
  read -r wall rss < <(median "$WORK/runs-$int8")
  printf 'daily run, %s feeds, cpu_int8 %-5s: median %6.1f s, peak RSS %4d MiB (%s tries)\n' \
    "$N" "$int8" "$wall" "$((rss / 1024))" "$TRIES"
done
