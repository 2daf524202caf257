#!/usr/bin/env bash
# What the daily digest looks like, as a PNG: runs pipelines/daily-digest.yaml
# (the demo feeds, scored by the real model, grouped into sagas) in a scratch
# folder, follows one story, renders the digest with `agg digest --preview`,
# and screenshots it with headless Chromium.
#
#   scripts/digest-screenshot.sh [OUT.png]      # default target/digest/daily-digest.png
#
# Env: AGG_BIN (default target/debug/agg, built if missing), HEIGHT (pixels,
# default 2600), AGG_DIGEST_NOW (the digest's date; default 2026-11-26T07:00:00Z,
# just after the demo feeds' last items). Sends nothing; writes only OUT and
# OUT's .html beside it. Needs Chromium (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/digest/daily-digest.png}"
AGG="${AGG_BIN:-target/debug/agg}"
HEIGHT="${HEIGHT:-2600}"
export AGG_DIGEST_NOW="${AGG_DIGEST_NOW:-2026-11-26T07:00:00Z}"
export AGG_SECRET="${AGG_SECRET:-screenshot-only}"
# A public URL gives the digest its 👍/👎 and follow links (without one they
# are left out); a preview never connects to the SMTP server.
export AGG_PUBLIC_URL="${AGG_PUBLIC_URL:-https://agg.example.org}"
export AGG_SMTP_URL="${AGG_SMTP_URL:-smtp://127.0.0.1:2525}"

BROWSER=""
for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null 2>&1; then BROWSER="$b"; break; fi
done
[[ -n "$BROWSER" ]] || { echo "digest-screenshot: Chromium not found (apt-get install -y chromium)" >&2; exit 1; }
[[ -x "$AGG" ]] || cargo build --quiet --bin agg
./scripts/setup-model.sh >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r pipelines "$tmp/"
rm -rf "$tmp/pipelines/out"
db="$tmp/agg.db"
pipeline="$tmp/pipelines/daily-digest.yaml"

# A first pass stores, scores and groups the items; then follow one story so
# the digest shows its "Stories you follow" section too.
"$AGG" --db "$db" digest "$pipeline" --preview "$tmp/first.html" >/dev/null
saga="$("$AGG" --db "$db" sagas list | awk '/Climate summit/ { print $1; exit }')"
if [[ -n "$saga" ]]; then
    "$AGG" --db "$db" sagas follow "$saga" >/dev/null
fi

mkdir -p "$(dirname "$OUT")"
html="${OUT%.png}.html"
"$AGG" --db "$db" digest "$pipeline" --preview "$html" --eml "${OUT%.png}.eml"
"$BROWSER" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --force-device-scale-factor=1 --window-size="720,$HEIGHT" \
    --user-data-dir="$tmp/profile" --screenshot="$OUT" "file://$(realpath "$html")" 2>/dev/null
echo "digest-screenshot: $OUT"
