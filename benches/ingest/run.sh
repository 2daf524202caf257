#!/usr/bin/env bash
# Ingest benchmark, agg beside its peers, in one run:
#   1. serve N feed URLs (the real feeds of ../shared/data/feeds/real, each
#      file repeated under distinct URLs) from 127.0.0.1;
#   2. agg: `agg run` of one rss agent over the N URLs into a fresh SQLite
#      store (fetch + parse + normalise + store): wall time and peak RSS;
#   3. newsboat: `newsboat -x reload` over the same URLs (fresh cache),
#      with as many reload threads as agg has connections: wall time, RSS;
#   4. parse throughput: agg's parser vs Python feedparser on the same bytes.
# Prints the figures and the ratios. Needs: newsboat, python3-feedparser
# (apt-get install -y newsboat python3-feedparser), GNU time.
#
#   benches/ingest/run.sh            # N=1000, 8 connections
#   N=300 CONC=16 benches/ingest/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/ingest/lib.sh
. benches/ingest/lib.sh
REPO=$PWD
N=${N:-1000}
CONC=${CONC:-8}
ROUNDS=${ROUNDS:-5}
TRIES=${TRIES:-3}
CORPUS=${AGG_FEED_CORPUS:-$REPO/../shared/data/feeds}
FEEDS=$CORPUS/real
[ -d "$FEEDS" ] || { echo "feed corpus not found at $FEEDS (set AGG_FEED_CORPUS)"; exit 2; }
command -v newsboat >/dev/null || { echo "newsboat missing: apt-get install -y newsboat"; exit 2; }
PY=/usr/bin/python3
$PY -c 'import feedparser' 2>/dev/null || { echo "feedparser missing: apt-get install -y python3-feedparser"; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install -y time"; exit 2; }

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
echo "building (release)…" >&2
cargo build --release -q -p agg --bin agg
cargo build --release -q -p agg-fetch --example bench_serve --example parse_bench
AGG=$TARGET/release/agg

WORK=$(mktemp -d /tmp/agg-ingest-bench.XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start_feeds

# --- agg and newsboat, alternately ------------------------------------
# Each tool runs TRIES times (fresh store each time), alternating, and the
# median run of each is reported: on a shared machine one run of either can
# be slowed by a neighbour; alternating spreads that over both.
write_pipeline
NB=$WORK/nb
mkdir -p "$NB"
cp "$WORK/urls.txt" "$NB/urls"
printf 'reload-threads %s\nshow-read-feeds yes\n' "$CONC" >"$NB/config"
: >"$WORK/agg.runs"
: >"$WORK/nb.runs"
for t in $(seq "$TRIES"); do
  rm -f "$WORK"/agg.db*
  measure "$WORK/agg.time" "$AGG" --db "$WORK/agg.db" run "$WORK/p.yaml" >>"$WORK/agg.runs"
  rm -f "$NB/cache.db"*
  HOME=$NB measure "$WORK/nb.time" newsboat -u "$NB/urls" -c "$NB/cache.db" -C "$NB/config" -x reload >>"$WORK/nb.runs"
done
# The median run by wall time (its RSS with it); all runs are printed too.
read -r AGG_WALL AGG_RSS < <(median "$WORK/agg.runs")
read -r NB_WALL NB_RSS < <(median "$WORK/nb.runs")
echo "agg runs (wall s, peak RSS KiB): $(tr '\n' ';' <"$WORK/agg.runs")" >&2
echo "newsboat runs (wall s, peak RSS KiB): $(tr '\n' ';' <"$WORK/nb.runs")" >&2
AGG_ITEMS=$("$AGG" --db "$WORK/agg.db" items --count)
NB_ITEMS=$(python3 - "$NB/cache.db" <<'EOF2'
import sqlite3, sys
try:
    print(sqlite3.connect(sys.argv[1]).execute("select count(*) from rss_item").fetchone()[0])
except Exception as e:
    print("?")
EOF2
)

# --- parse throughput --------------------------------------------------
AGG_PARSE=$("$TARGET/release/examples/parse_bench" "$FEEDS" "$ROUNDS" 1)
THREADS=$(nproc)
AGG_PARSE_MT=$("$TARGET/release/examples/parse_bench" "$FEEDS" "$ROUNDS" "$THREADS")
FP_PARSE=$($PY benches/ingest/feedparser_bench.py "$FEEDS" 1)

$PY - "$N" "$CONC" "$AGG_WALL" "$AGG_RSS" "$AGG_ITEMS" "$NB_WALL" "$NB_RSS" "$NB_ITEMS" "$AGG_PARSE" "$FP_PARSE" "$AGG_PARSE_MT" "$TRIES" <<'EOF'
import json, sys
n, conc, aw, ar, ai, nw, nr, ni, ap, fp, am, tries = sys.argv[1:]
aw, ar, nw, nr = float(aw), float(ar), float(nw), float(nr)
ap, fp, am = json.loads(ap), json.loads(fp), json.loads(am)
print(f"ingest of {n} feed URLs from 127.0.0.1, {conc} connections (median of {tries} runs each)")
print(f"  agg       wall {aw:7.2f} s   peak RSS {ar/1024:7.1f} MiB   items stored {ai}")
print(f"  newsboat  wall {nw:7.2f} s   peak RSS {nr/1024:7.1f} MiB   items stored {ni}")
print(f"  agg is {nw/aw:.1f}x faster than newsboat (target >= 3x), with {ar/nr:.2f}x its peak RSS (target <= 0.5x)")
print(f"parse throughput over {ap['files']} real feed files ({ap['bytes']/1e6:.1f} MB)")
print(f"  agg, 1 thread {ap['mb_per_s']:8.2f} MB/s  {ap['feeds_per_s']:8.1f} feeds/s  ({ap['rounds']} rounds, {ap['parsed']} parsed, {ap['items']} items)")
print(f"  {fp['parser']:<10} {fp['mb_per_s']:8.2f} MB/s  {fp['feeds_per_s']:8.1f} feeds/s  ({fp['rounds']} round, {fp['parsed']} parsed, {fp['items']} items)")
print(f"  agg, {am['threads']} threads {am['mb_per_s']:6.2f} MB/s  {am['feeds_per_s']:8.1f} feeds/s  (as ingest parses: feeds in parallel)")
print(f"  agg parses {ap['mb_per_s']/fp['mb_per_s']:.1f}x faster than feedparser on one thread, {am['mb_per_s']/fp['mb_per_s']:.1f}x on {am['threads']} (target >= 30x)")
EOF
