#!/usr/bin/env bash
# Living with agg for three mornings: real feed files served on 127.0.0.1, a
# local SMTP server (aiosmtpd), `agg run --now` for 1-3 Dec 2026, then
# `agg serve` and headless Chromium screenshots of each mail and the UI
# pages (390 and 1200 px) to look at.
#
#   scripts/simulate-days.sh [WORKDIR]     # default target/days
#
# Env: AGG (binary; default target/release/agg or target/debug/agg),
# CORPUS (default ../shared/data/feeds/real). Needs python3 with aiosmtpd,
# chromium and curl.
set -u
cd "$(dirname "$0")/.."
AGG=${AGG:-}
for b in target/release/agg target/debug/agg; do [ -z "$AGG" ] && [ -x "$b" ] && AGG=$PWD/$b; done
[ -n "$AGG" ] || { echo "simulate-days: build agg first (cargo build)" >&2; exit 1; }
W=$(realpath -m "${1:-target/days}"); rm -rf "$W"; mkdir -p "$W/shots"
export AGG_DB=$W/agg.db AGG_NO_PROGRESS=1 NO_COLOR=1 AGG_SECRET=days-secret
corpus=$(realpath "${CORPUS:-../shared/data/feeds/real}")
fport=$((20000 + RANDOM % 10000)); sport=$((fport + 1)); uport=$((fport + 2))
(cd $corpus && exec python3 -m http.server $fport --bind 127.0.0.1 >/dev/null 2>&1) & srv=$!
python3 -m aiosmtpd -n -l 127.0.0.1:$sport -c aiosmtpd.handlers.Mailbox $W/maildir & smtp=$!
trap 'kill $srv $smtp ${ui:-} 2>/dev/null' EXIT
sleep 1
{ echo "name: morning"; echo 'schedule: "0 7 * * *"'; echo "timezone: Europe/London"; echo "agents:"
  echo "  news:"; echo "    kind: rss"; echo '    allow_private: ["127.0.0.1"]'; echo "    feeds:"
  ls $corpus | grep -vE '\.(opml|md|tsv)$' | sort | awk 'NR%3==2' | head -45 | while read -r f; do echo "      - http://127.0.0.1:$fport/$f"; done
  echo "  fresh: { kind: dedupe, inputs: [news] }"
  echo "  scored:"; echo "    kind: score"; echo "    inputs: [fresh]"
  echo '    interests: { like: ["programming languages", "space exploration", "climate policy"], dislike: ["celebrity gossip"] }'
  echo "  stories: { kind: saga, inputs: [scored] }"
  echo "  page: { kind: html, inputs: [stories], path: $W/page.html }"
  echo "  mail: { kind: email_digest, inputs: [stories], to: me@example.org, from: agg@example.org, smtp: \"smtp://127.0.0.1:$sport\", public_url: \"http://127.0.0.1:$uport\" }"
} > $W/p.yaml
$AGG validate $W/p.yaml
for d in 2026-12-01 2026-12-02 2026-12-03; do
  echo "=== $d"; $AGG run $W/p.yaml --now ${d}T07:00:00Z --refetch 2>&1 | tail -14
done
ls $W/maildir/new | wc -l
# The last mail's HTML part.
python3 - $W <<'PY'
import sys, email, os, glob
w=sys.argv[1]
for i,f in enumerate(sorted(glob.glob(w+'/maildir/new/*'), key=os.path.getmtime)):
    m=email.message_from_binary_file(open(f,'rb'))
    print(i, m['Subject'], m['List-Unsubscribe'] is not None)
    for part in m.walk():
        if part.get_content_type()=='text/html':
            open(f'{w}/mail{i}.html','wb').write(part.get_payload(decode=True))
        if part.get_content_type()=='text/plain':
            open(f'{w}/mail{i}.txt','wb').write(part.get_payload(decode=True))
PY
$AGG serve $W/p.yaml --bind 127.0.0.1:$uport --now 2026-12-03T09:00:00Z >$W/serve.log 2>&1 & ui=$!
sleep 4
shot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=$2,$3 --screenshot=$W/shots/$1.png "$4" >/dev/null 2>&1; }
for i in 0 1 2; do [ -f $W/mail$i.html ] && shot mail$i-390 390 2400 file://$W/mail$i.html; done
[ -f $W/mail0.html ] && shot mail0-900 900 2400 file://$W/mail0.html
shot items-1200 1200 1800 http://127.0.0.1:$uport/
shot items-390 390 1800 http://127.0.0.1:$uport/
shot sagas-1200 1200 1800 http://127.0.0.1:$uport/ui/sagas
shot digest-1200 1200 1800 http://127.0.0.1:$uport/ui/digest
shot feeds-1200 1200 1400 http://127.0.0.1:$uport/ui/feeds
shot page-1200 1200 1800 file://$W/page.html
id=$(curl -s http://127.0.0.1:$uport/ | grep -o 'href="/ui/item/[0-9]*"' | head -1 | grep -o '[0-9]*')
shot item-390 390 1400 http://127.0.0.1:$uport/ui/item/$id
# The first listed saga's page (most sagas of a feed's back catalogue are
# archived at once: this page then reads the archive).
sid=$(curl -s http://127.0.0.1:$uport/ui/sagas | grep -o 'href="/ui/sagas/[0-9]*"' | head -1 | grep -o '[0-9]*')
[ -n "$sid" ] && shot saga-1200 1200 1400 http://127.0.0.1:$uport/ui/sagas/$sid
echo "saga page: /ui/sagas/$sid ($(sqlite3 $W/agg.db "select count(*) from saga_archive where id = ${sid:-0}" 2>/dev/null) archived row)"
ls $W/shots
