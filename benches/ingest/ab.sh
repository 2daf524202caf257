#!/usr/bin/env bash
# A/B of agg builds on the ingest benchmark's agg step: the same N served
# feed URLs (see run.sh), each binary run R times, interleaved (A B A B …)
# so a neighbour slowing the machine slows both; prints every run and the
# mean wall time and peak RSS per binary. Used to decide whether one change
# helps, where single runs vary by a quarter on a shared box.
#
#   cp target/release/agg /tmp/agg-a   # before the change
#   cargo build --release -p agg       # after it
#   R=7 benches/ingest/ab.sh /tmp/agg-a target/release/agg
#   EXTRA=--dry-run benches/ingest/ab.sh /tmp/agg-a   # fetch + parse only
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 AGG_BINARY [AGG_BINARY…]" >&2; exit 2; }
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done
cd "$(dirname "$0")/../.."
# shellcheck source=benches/ingest/lib.sh
. benches/ingest/lib.sh
REPO=$PWD
N=${N:-1000}
CONC=${CONC:-8}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
FEEDS=${AGG_FEED_CORPUS:-$REPO/../shared/data/feeds}/real
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install -y time"; exit 2; }
cargo build --release -q -p agg-fetch --example bench_serve
WORK=$(mktemp -d /tmp/agg-ab.XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
start_feeds
write_pipeline
for _ in $(seq "${R:-5}"); do
  for b in "${bins[@]}"; do
    rm -f "$WORK"/agg.db*
    sync # no run pays for writing back the previous run's database
    # shellcheck disable=SC2086
    /usr/bin/time -f "$b %e s %M KiB %U user %S sys" "$b" --db "$WORK/agg.db" run "$WORK/p.yaml" ${EXTRA:-} \
      >/dev/null 2>"$WORK/err" || true
    tail -n1 "$WORK/err"
  done
done | sort | awk '{print; w[$1]+=$2; r[$1]+=$4; n[$1]++}
  END {for (b in w) printf "mean %s  wall %.2f s  peak RSS %.1f MiB  (%d runs)\n", b, w[b]/n[b], r[b]/n[b]/1024, n[b]}'
