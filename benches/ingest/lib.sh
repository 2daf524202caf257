# Shared by run.sh and workers.sh (sourced): the served feeds and the one
# pipeline both benchmarks run. Needs TARGET, FEEDS, N, CONC and WORK set.

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
