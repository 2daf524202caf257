#!/usr/bin/env bash
# A year of daily runs with retention (issue 23): does `retention_days`
# keep the store bounded? Each simulated day, `examples/grow_history.rs`
# adds PER_DAY synthetic items dated that day (through the real saga engine,
# archive included), then `agg gc --days RETENTION` runs at that day's
# clock, as a daily run applies retention when it is due. Every STEP days
# (and on the last) it prints a row: items kept, tombstones, the database
# file and the pages in use, the engine's state, archived sagas, and the
# seconds the day's growth and retention took.
#
#   benches/history/year.sh        # DAYS=365 PER_DAY=2740 RETENTION=30 STEP=15
#   DAYS=60 PER_DAY=500 STEP=10 KEEP=/tmp/y benches/history/year.sh
#
# The database file does not shrink by itself (SQLite reuses freed pages;
# `agg gc` says so and `VACUUM` gives the space back), so bounded means the
# file stops growing once the retention window is full.
set -euo pipefail
cd "$(dirname "$0")/../.."
DAYS=${DAYS:-365}
PER_DAY=${PER_DAY:-2740}
RETENTION=${RETENTION:-30}
STEP=${STEP:-15}
PROFILE=${PROFILE:-release}
command -v sqlite3 >/dev/null || { echo "sqlite3 missing: apt-get install -y sqlite3"; exit 2; }
. benches/history/build.sh agg-year-bench
[ -z "${KEEP:-}" ] && trap 'rm -rf "$WORK"' EXIT
DB=$WORK/year.db
rm -f "$DB" "$DB-wal" "$DB-shm"
start=$(date -u -d 2026-01-01T07:00:00Z +%s)
echo "| day | items kept | tombstones | db file | pages in use | engine state | archived sagas | grow s | retention s |"
echo "|---|---|---|---|---|---|---|---|---|"
for d in $(seq 1 "$DAYS"); do
  now=$(date -u -d "@$((start + d * 86400))" +%Y-%m-%dT%H:%M:%SZ)
  t0=$(date +%s.%N)
  # The day's clock, as a run at --now has it (saga events are stamped
  # with it, and retention prunes them by it).
  AGG_NOW=$now "$GROW" "$DB" $((d * PER_DAY)) bench-random-384@1 384 "$now" "$PER_DAY" 2>"$WORK/grow.log" \
    || { tail -5 "$WORK/grow.log"; exit 1; }
  t1=$(date +%s.%N)
  AGG_NOW=$now AGG_NO_PROGRESS=1 "$AGG" --db "$DB" gc --days "$RETENTION" --json >"$WORK/gc.json" 2>"$WORK/gc.log" \
    || { tail -5 "$WORK/gc.log"; exit 1; }
  t2=$(date +%s.%N)
  if [ $((d % STEP)) -eq 0 ] || [ "$d" -eq "$DAYS" ]; then
    sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    sqlite3 "$DB" "SELECT printf('| %d | %d | %d | %.0f MB | %.0f MB | %.1f MB | %d |',
        $d, (SELECT count(*) FROM items), (SELECT count(*) FROM item_tombstones),
        $(stat -c %s "$DB") / 1048576.0,
        ((SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()))
          * (SELECT page_size FROM pragma_page_size()) / 1048576.0,
        ((SELECT coalesce(sum(length(value)), 0) FROM state WHERE key = 'saga-engine')
          + (SELECT coalesce(sum(length(body)), 0) FROM saga_live)
          + (SELECT coalesce(sum(length(body)), 0) FROM saga_feeds)) / 1048576.0,
        (SELECT count(*) FROM saga_archive))" | tr -d '\n'
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf " %.1f | %.1f |\n", b - a, c - b }'
  fi
done
