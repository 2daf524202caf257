#!/usr/bin/env bash
# Prints the hostile-corpus outcome table: every file of
# ../shared/data/feeds/hostile/ (or $AGG_FEED_CORPUS/hostile) through the
# whole pipeline, file → outcome or error message, then each group's wall
# time and peak RSS. It is the table tests/hostile_corpus.rs checks; this
# only runs that test and prints what it wrote.
#   scripts/hostile-table.sh [OUT.md]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp --suffix=.md)}"
AGG_HOSTILE_TABLE="$out" cargo test --test hostile_corpus -- --quiet >&2
cat "$out"
