#!/usr/bin/env bash
# Ingest with several `agg worker` processes on PostgreSQL, beside `agg run`
# on SQLite, in one run on the same served feeds:
#   1. serve N feed URLs from 127.0.0.1 (bench_serve, as run.sh does);
#   2. SQLite: `agg run` of one rss agent over the N URLs (fresh file);
#   3. PostgreSQL: for W in 1 2 4, a fresh database, then W `agg worker
#      --cycles 1` processes started together, each claiming due feeds in
#      chunks; wall time until the last exits, CPU seconds of the workers
#      (GNU time) and of the database server (/proc of its processes);
#   4. where the time goes: pg_stat_statements of the W=1 run (calls, total
#      and mean time per statement) and the agents' durations (`agg runs`).
# A private PostgreSQL (initdb into a temp folder, pg_stat_statements
# preloaded, fsync off as a test server) so that other users of the shared
# server neither slow it down nor show up in the statistics.
#
#   benches/ingest/workers.sh               # N=1000, 8 connections per worker
#   N=300 CONC=16 WORKERS="1 2" benches/ingest/workers.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/ingest/lib.sh
. benches/ingest/lib.sh
REPO=$PWD
N=${N:-1000}
CONC=${CONC:-8}
WORKERS=${WORKERS:-1 2 4}
CORPUS=${AGG_FEED_CORPUS:-$REPO/../shared/data/feeds}
FEEDS=$CORPUS/real
[ -d "$FEEDS" ] || { echo "feed corpus not found at $FEEDS (set AGG_FEED_CORPUS)"; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install -y time"; exit 2; }
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/pg_ctl" ] || { echo "PostgreSQL server binaries missing (apt-get install -y postgresql)"; exit 2; }

TARGET=${CARGO_TARGET_DIR:-$REPO/target}
echo "building (release)…" >&2
cargo build --release -q -p agg --bin agg
cargo build --release -q -p agg-fetch --example bench_serve
AGG=$TARGET/release/agg

WORK=$(mktemp -d /tmp/agg-workers-bench.XXXXXX)
SERVER_PID=
AS=()
[ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -d "$WORK/pg/data" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" stop -m immediate >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- the private PostgreSQL ----------------------------------------------
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$WORK/pg" && chmod 755 "$WORK"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/log" -w start -o \
  "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
   -c full_page_writes=off -c shared_preload_libraries=pg_stat_statements -c max_connections=100" >/dev/null
PG=postgres://postgres@127.0.0.1:$PGPORT
psql -qAtX "$PG/postgres" -c "CREATE EXTENSION pg_stat_statements" >/dev/null

# CPU seconds (user+sys) of every process of the database server so far.
pg_cpu() {
  local pids tick total=0
  tick=$(getconf CLK_TCK)
  pids=$(pgrep -u postgres -f "$WORK/pg" || true; ps -o pid= --ppid "$(head -1 "$WORK/pg/data/postmaster.pid")")
  for p in $pids; do
    [ -r "/proc/$p/stat" ] || continue
    total=$(awk -v t="$total" '{print t + $14 + $15 + $16 + $17}' "/proc/$p/stat")
  done
  awk -v t="$total" -v k="$tick" 'BEGIN {printf "%.2f", t / k}'
}

# --- the feeds -------------------------------------------------------------
start_feeds
write_pipeline

now() { date +%s.%N; }
# user+sys seconds from a GNU time -v log
cpu_of() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$1"; }

RESULTS=$WORK/results.txt
: >"$RESULTS"

# --- SQLite, one process -----------------------------------------------------
t0=$(now)
/usr/bin/time -v "$AGG" --db "$WORK/agg.db" run "$WORK/p.yaml" >/dev/null 2>"$WORK/sqlite.time" || true
t1=$(now)
items=$("$AGG" --db "$WORK/agg.db" items --count)
echo "sqlite agg-run 1 $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}') $(cpu_of "$WORK/sqlite.time") - $items" >>"$RESULTS"

# --- PostgreSQL, W workers ---------------------------------------------------
for W in $WORKERS; do
  DB=bench_w$W
  psql -qAtX "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
  "$AGG" --db "$PG/$DB" migrate >/dev/null
  psql -qAtX "$PG/postgres" -c "SELECT pg_stat_statements_reset()" >/dev/null
  cpu0=$(pg_cpu)
  t0=$(now)
  pids=()
  for i in $(seq "$W"); do
    /usr/bin/time -v "$AGG" --db "$PG/$DB" --log-format json -v worker "$WORK/p.yaml" \
      --cycles 1 --name "bench-$W-$i" >/dev/null 2>"$WORK/w$W-$i.log" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  t1=$(now)
  cpu1=$(pg_cpu)
  wcpu=0
  for i in $(seq "$W"); do wcpu=$(awk -v a="$wcpu" -v b="$(cpu_of "$WORK/w$W-$i.log")" 'BEGIN {printf "%.2f", a+b}'); done
  items=$("$AGG" --db "$PG/$DB" items --count)
  echo "postgres agg-worker $W $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}') $wcpu $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b-a}') $items" >>"$RESULTS"
  # Feeds each worker claimed (the split of the work).
  split=""
  for i in $(seq "$W"); do
    c=$(grep -o '"claimed":[0-9]*' "$WORK/w$W-$i.log" | awk -F: '{s+=$2} END {print s+0}')
    split="$split $c"
  done
  echo "split $W$split" >>"$RESULTS"
  if [ "$W" = "$(echo $WORKERS | awk '{print $1}')" ]; then
    psql -qAtX -F $'\t' "$PG/postgres" -c "SELECT calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3),
        regexp_replace(left(query, 90), '\s+', ' ', 'g')
      FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$DB')
      ORDER BY total_exec_time DESC LIMIT 8" >"$WORK/statements.txt"
    "$AGG" --db "$PG/$DB" runs --json >"$WORK/runs.json"
  fi
done

python3 - "$RESULTS" "$WORK/statements.txt" "$WORK/runs.json" "$N" "$CONC" "$(nproc)" <<'EOF'
import json, sys
res, stm, runs, n, conc, cores = sys.argv[1:]
print(f"ingest of {n} feed URLs from 127.0.0.1, {conc} connections per process, {cores} cores")
print(f"  {'store':<9} {'how':<11} {'procs':>5} {'wall s':>7} {'agg CPU s':>9} {'PG CPU s':>8} {'items':>7} {'items/s':>8}")
splits = {}
base = None
for line in open(res):
    f = line.split()
    if f[0] == "split":
        splits[f[1]] = f[2:]
        continue
    store, how, procs, wall, cpu, pgcpu, items = f
    wall = float(wall)
    rate = int(items) / wall if wall else 0
    print(f"  {store:<9} {how:<11} {procs:>5} {wall:7.2f} {float(cpu):9.2f} {pgcpu:>8} {items:>7} {rate:8.0f}")
for w, s in splits.items():
    print(f"  feeds claimed per worker with {w}: {' '.join(s)}")
print("where the database time goes (pg_stat_statements, first PostgreSQL run):")
print(f"  {'calls':>7} {'total ms':>9} {'mean ms':>8}  statement")
for line in open(stm):
    c, t, m, q = line.rstrip("\n").split("\t")
    print(f"  {c:>7} {t:>9} {m:>8}  {q}")
try:
    r = json.load(open(runs))
    for run in r[:1]:
        for a in run["agents"]:
            print(f"agent {a['agent']} ({a['kind']}): {a['duration_ms']/1000:.2f} s, {a['items_out']} items out, {a['items_new']} new")
except Exception as e:
    print("runs:", e)
EOF
