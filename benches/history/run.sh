#!/usr/bin/env bash
# History benchmark (issue 23): does a daily run stay cheap as the store
# grows? For each size in SIZES, grows one SQLite store to that many
# synthetic items (examples/grow_history.rs: a year of stories, random unit
# vectors under the real model's id, the real saga engine), then measures
# with GNU time (wall seconds, peak RSS):
#   run-new   `agg run` of 10 local feeds carrying 20 new items: the
#             median of ROUNDS (default 21) such runs, each with new
#             items (one run varies by ±30% on a shared 2-core machine,
#             and a run is ~0.04 s: five medians of nine still ranged
#             ±15%). The runs
#             of all sizes take turns (round r runs every size once), so
#             the machine's drift over minutes falls on every size alike:
#             the target is a ratio between sizes, and sizes measured one
#             after another minutes apart differed by the drift itself
#   run-idle  the last run again: nothing new
#   search    `agg search` of a word present in ~1 in 300 items
#   sagas     GET /ui/sagas from `agg serve` (curl, wall time only)
#   ui search p95 of 40 GET /ui/search from the same server (model loaded;
#             of 20, the p95 was the second slowest, one hiccup of the VM)
#             of one topic ("harbour strike N"), then of 40 topics (each
#             reads other vectors, maybe from disk)
#   cold      with COLD=1 (root: it drops the page cache), the p95 of 40
#             more topics with the kernel's page cache dropped before each
#             query: the worst case, nothing of the store in memory but
#             what the server holds itself (a line after the table)
#   recall    recall@10 of search's vector index against an exact scan, 50
#             stored vectors as queries (examples/search_recall.rs)
#   db        size of the database file (after a checkpoint)
#
#   benches/history/run.sh                 # SIZES="20000 100000"
#   SIZES="20000 100000 200000" PROFILE=release benches/history/run.sh
#   KEEP=/tmp/h benches/history/run.sh     # keep (and reuse) the stores
#   PER_DAY=2740 benches/history/run.sh     # one person's history: items
#       arrive at 2,740 a day (1M a year), so a bigger store is a longer
#       history, not a busier year (default: every size spread over a year)
#
# Stores are grown incrementally in KEEP (default: a temporary folder), so
# a rerun after a code change reuses them: pass KEEP to compare before and
# after on the same data (a store grown by older code is migrated by newer).
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"20000 100000"}
PROFILE=${PROFILE:-debug}
NOW=2026-11-26T07:00:00Z
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install -y time"; exit 2; }
. benches/history/build.sh agg-history-bench
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; [ -z "${KEEP:-}" ] && rm -rf "$WORK"; true; }
trap cleanup EXIT
export AGG_NOW=$NOW

measure() { # LOG CMD… -> "wall rss_mb" (wall to the millisecond: a run is ~0.03-0.05 s)
  local log=$1; shift
  sync
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -v "$@" >"$log.out" 2>"$log" || { echo "failed: $* (see $log)" >&2; tail -5 "$log" >&2; }
  t1=$(date +%s%N)
  awk -F': ' -v ns=$((t1 - t0)) '/Maximum resident set size/ {r=$2/1024}
              END {printf "%.3f s %.0f MB", ns / 1e9, r}' "$log"
}

# The model id the saga step and search will look vectors up by.
MODEL=$("$AGG" --db "$WORK/probe.db" search probe 2>&1 >/dev/null | sed -n 's/^embedding with \([^ ]*\) on .*/\1/p' | head -1)
[ -n "$MODEL" ] || { echo "could not learn the model id from agg search (is the model installed?)"; exit 2; }
echo "model: $MODEL" >&2

# Ten feeds, two new items each, for round R of size N.
write_feeds() { # DIR TAG
  local dir=$1 tag=$2
  mkdir -p "$dir"
  for f in $(seq 0 9); do
    {
      echo '<?xml version="1.0"?><rss version="2.0"><channel>'
      echo "<title>Bench feed $f</title><link>https://bench$f.example/</link><description>b</description>"
      for i in 0 1; do
        echo "<item><title>Harbour strike day $tag $f $i</title><link>https://bench$f.example/$tag/$i</link>"
        echo "<guid>bench-$tag-$f-$i</guid><pubDate>Thu, 26 Nov 2026 0$i:00:00 GMT</pubDate>"
        echo "<description>The harbour strike goes on ($tag, $f, $i).</description></item>"
      done
      echo '</channel></rss>'
    } >"$dir/feed$f.xml"
  done
  {
    echo "name: history"
    echo "agents:"
    for f in $(seq 0 9); do echo "  f$f: { kind: file, path: feed$f.xml }"; done
    echo "  sagas: { kind: saga, inputs: [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] }"
    echo "  page: { kind: html, inputs: [sagas], path: out.html }"
  } >"$dir/p.yaml"
}

TOPICS="election+results football+transfer climate+summit interest+rates mars+rover vaccine+trial
oil+prices chip+exports wildfire+evacuation tennis+open merger+talks court+ruling heat+wave
railway+strike central+bank space+launch film+festival earthquake+relief tax+reform data+breach
housing+market olympic+games refugee+crisis trade+deal flood+warning school+funding privacy+law
ai+regulation cancer+research stock+market drought+farmers cyber+attack royal+wedding
bridge+collapse music+awards peace+talks fuel+shortage hospital+waiting border+dispute ocean+plastic"
COLD_TOPICS="tidal+energy bee+decline subway+fares cocoa+prices polar+bears tariff+ruling drone+attack
bail+reform asteroid+mission whale+stranding pipeline+leak factory+closure cricket+final ballet+tour
ferry+strike coffee+harvest malaria+vaccine toll+road landslide+village spy+trial grain+corridor
mayor+election arctic+ice mortgage+rates vaccine+rollout salmon+farming library+closures heatwave+deaths
tunnel+project tiger+census currency+crisis sugar+tax fire+brigade submarine+deal cathedral+restoration
bus+drivers wine+exports hacker+arrested canal+drought robot+surgery"
: >"$WORK/cold.md"
printf '| size | run, 20 new | run, nothing new | search | /ui/sagas | /ui/search p95 | /ui/search p95, 40 topics | index recall@10 | db |\n|---|---|---|---|---|---|---|---|---|\n' >"$WORK/table.md"
for N in $SIZES; do
  DB=$WORK/store-$N.db
  echo "growing $DB to $N…" >&2
  "$GROW" "$DB" "$N" "$MODEL" 384 "$NOW" ${PER_DAY:-} 2>&1 | tail -2 >&2
  rm -f "$WORK/run-new-$N.all"
done
# Runs with new items, the sizes taking turns (see run-new above).
ROUNDS=${ROUNDS:-21}
tag=$(date +%s)
for r in $(seq "$ROUNDS"); do
  for N in $SIZES; do
    write_feeds "$WORK/feeds-$N" "$tag-$r"
    { measure "$WORK/run-new-$N-$r.log" "$AGG" --db "$WORK/store-$N.db" run "$WORK/feeds-$N/p.yaml"; echo; } >>"$WORK/run-new-$N.all"
  done
done
for N in $SIZES; do
  DB=$WORK/store-$N.db
  new=$(sort -n "$WORK/run-new-$N.all" | sed -n "$(((ROUNDS + 1) / 2))p")
  echo "runs with 20 new at $N: $(cut -d' ' -f1 "$WORK/run-new-$N.all" | tr '\n' ' ')" >&2
  idle=$(measure "$WORK/run-idle-$N.log" "$AGG" --db "$DB" run "$WORK/feeds-$N/p.yaml")
  search=$(measure "$WORK/search-$N.log" "$AGG" --db "$DB" search "harbour strike" --limit 10)
  port=$((18000 + RANDOM % 1000))
  "$AGG" --db "$DB" serve "$WORK/feeds-$N/p.yaml" --bind 127.0.0.1:$port --catch-up none >"$WORK/serve-$N.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  curl -fs -o /dev/null "http://127.0.0.1:$port/ui/sagas" || true # warm
  sagas=$(curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/ui/sagas" || echo fail)
  # Search inside the server (the model loaded once), 40 queries: p95.
  curl -fs -o /dev/null "http://127.0.0.1:$port/ui/search?q=harbour+strike" || true # warm
  uisearch=$(for q in $(seq 40); do
      curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/ui/search?q=harbour+strike+$q" || echo 999
    done | sort -n | awk '{v[NR]=$1} END {i=int(NR*0.95+0.999); printf "%.3f", v[i]}')
  # 40 queries on 40 topics: each looks at other vectors, which the
  # store may have to read from disk (the queries above mostly look at
  # the same ones).
  topics=$(for t in $TOPICS; do
      curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/ui/search?q=$t" || echo 999
    done | sort -n | awk '{v[NR]=$1} END {i=int(NR*0.95+0.999); printf "%.3f", v[i]}')
  if [ "${COLD:-0}" = 1 ]; then
    cold=$(for t in $COLD_TOPICS; do
        sync; echo 3 >/proc/sys/vm/drop_caches
        curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/ui/search?q=$t" || echo 999
      done | sort -n | awk '{v[NR]=$1} END {printf "p50 %.3f s, p95 %.3f s", v[int(NR*0.5+0.5)], v[int(NR*0.95+0.999)]}')
    echo "/ui/search at $N, 40 topics, the page cache dropped before each: $cold" | tee -a "$WORK/cold.md" >&2
  fi
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  recall=$("$RECALL" store "$DB" "$MODEL" 50 2>"$WORK/recall-$N.log" | tee -a "$WORK/recall-$N.log" | sed -n 's/.*recall@10 \([0-9.]*\).*/\1/p' | head -1)
  sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null 2>&1 || true
  size=$(du -m "$DB" | cut -f1)
  # The engine's state: its core document, its live sagas' and feeds' rows.
  state=$(sqlite3 "$DB" "SELECT printf('%.1f', ((SELECT length(value) FROM state WHERE key='saga-engine')
    + (SELECT coalesce(sum(length(body)), 0) FROM saga_live)
    + (SELECT coalesce(sum(length(body)), 0) FROM saga_feeds)) / 1048576.0)" 2>/dev/null || echo "?")
  events=$(sqlite3 "$DB" "SELECT count(*) FROM saga_events" 2>/dev/null || echo "?")
  archived=$(sqlite3 "$DB" "SELECT count(*) FROM saga_archive" 2>/dev/null || echo "?")
  printf '| %s | %s | %s | %s | %s s | %s s | %s s | %s | %s MB (engine state %s MB, %s sagas archived, %s saga events) |\n' \
    "$N" "$new" "$idle" "$search" "$sagas" "$uisearch" "$topics" "${recall:-?}" "$size" "$state" "$archived" "$events" | tee -a "$WORK/table.md" >&2
done
cat "$WORK/table.md" "$WORK/cold.md"
# The target (issue 23): a run with 20 new items at most 1.2× its figure at
# the first size: the ratio of the medians, and per round each size against
# the first size's run of the same round (the runs next to each other in
# time) with the median of those ratios.
first=${SIZES%% *}
for N in $SIZES; do
  [ "$N" = "$first" ] && continue
  paste -d' ' <(cut -d' ' -f1 "$WORK/run-new-$N.all") <(cut -d' ' -f1 "$WORK/run-new-$first.all") |
    awk -v n="$N" -v f="$first" '{r[NR]=$1/$2; a[NR]=$1; b[NR]=$2; s=s sprintf(" %.2f", $1/$2)}
      END {m=int((NR+1)/2); asort(r); asort(a); asort(b);
           printf "run with 20 new, %s against %s: medians %.3f / %.3f s = %.2f×; per round:%s; median of those %.2f×\n", n, f, a[m], b[m], a[m]/b[m], s, r[m]}'
done | tee -a "$WORK/table.md"
