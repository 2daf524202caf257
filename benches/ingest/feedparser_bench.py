"""Parse throughput of Python feedparser over the same feed files as
parse_bench (every non-OPML file of a folder). Prints one JSON line."""
import json
import os
import sys
import time

import feedparser

d = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
files = []
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    if not os.path.isfile(p) or name.endswith(".opml"):
        continue
    b = open(p, "rb").read()
    if b"<opml" in b[:500]:
        continue
    files.append(b)
total = sum(len(b) for b in files)
ok = items = 0
t = time.perf_counter()
for _ in range(rounds):
    for b in files:
        f = feedparser.parse(b)
        if not f.bozo or f.entries:
            ok += 1
        items += len(f.entries)
secs = time.perf_counter() - t
print(json.dumps({
    "parser": "feedparser " + feedparser.__version__,
    "files": len(files), "rounds": rounds, "parsed": ok // rounds, "items": items // rounds,
    "bytes": total, "seconds": round(secs, 4),
    "mb_per_s": round(total * rounds / secs / 1e6, 3),
    "feeds_per_s": round(len(files) * rounds / secs, 1),
}))
