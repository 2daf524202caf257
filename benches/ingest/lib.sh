# Shared by run.sh, workers.sh and benches/daily/run.sh (sourced): the
# served feeds, the one ingest pipeline, and how a run is timed. Needs
# TARGET, FEEDS, N, CONC and WORK set.

# Starts bench_serve on N URLs over the files of FEEDS; sets SERVER_PID and
# waits for $WORK/urls.txt.
start_feeds() {
  "$TARGET/release/examples/bench_serve" "$FEEDS" "$N" "$WORK/urls.txt" 2>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -f "$WORK/urls.txt" ] && break; sleep 0.1; done
  [ -f "$WORK/urls.txt" ] || { echo "server did not start"; cat "$WORK/server.log"; exit 1; }
}

# Writes $WORK/p.yaml: one rss agent over every served URL.
write_pipeline() {
  {
    echo "name: bench"
    echo "agents:"
    echo "  web:"
    echo "    kind: rss"
    echo "    concurrency: $CONC"
    echo "    per_host: $CONC   # every URL is on one local host"
    echo "    retries: 0"
    echo "    respect_schedule: false"
    echo "    feeds:"
    sed 's/^/      - /' "$WORK/urls.txt"
  } >"$WORK/p.yaml"
}

# GNU time -v: wall seconds and peak RSS (KiB) of a command, as
# "wall rss". Dirty pages are written back first: agg writes ~50 MB of
# SQLite, newsboat ~8 MB, and without it the next run of either tool paid
# for the last one's writeback. The command's own exit status is not
# judged here (a run over broken feeds ends "partial"); callers check
# what it wrote.
measure() {
  local log=$1; shift
  sync
  /usr/bin/time -v "$@" >"$log.out" 2>"$log" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  echo "$wall $rss"
}

# The median line of a file of "wall rss" lines, by wall time.
median() { sort -n -k1,1 "$1" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
