#!/usr/bin/env bash
# Builds agg and runs the demo pipeline offline on the feeds shipped in
# pipelines/demo-feeds/. The store is a SQLite file under .demo/ (delete it
# to start over); outputs land in pipelines/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
export AGG_DB="${AGG_DB:-$PWD/.demo/agg.db}"
mkdir -p "$(dirname "$AGG_DB")"
./target/release/agg validate pipelines/demo.yaml
./target/release/agg run pipelines/demo.yaml
echo
echo "stored items: $(./target/release/agg items --count)"
./target/release/agg items --limit 10
echo
echo "page: pipelines/out/index.html   items: pipelines/out/items.jsonl   store: $AGG_DB"
