#!/usr/bin/env python3
"""Real feed texts for the scoring benchmark, as JSONL rows {id, title, text, label}.

Every entry of the real feed files in ../shared/data/feeds/real (RSS, Atom,
RDF, JSON Feed captured from real sites; OPML left out), parsed with
feedparser, HTML reduced to its text, whitespace collapsed: close to what agg
stores as an item's title and text. Entries without a title or text are
skipped, duplicates (same title and text) kept once.

    python3 benches/score/make-corpus.py FEEDS_DIR OUT.jsonl
"""
import html.parser
import json
import os
import re
import sys

import feedparser


class Text(html.parser.HTMLParser):
    """Text content of an HTML fragment; script/style dropped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in ("p", "br", "div", "li", "h1", "h2", "h3", "tr"):
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def plain(s):
    p = Text()
    try:
        p.feed(s or "")
        p.close()
    except Exception:  # a broken fragment: keep what was read
        pass
    return re.sub(r"\s+", " ", "".join(p.parts)).strip()


def main(feeds, out):
    seen, rows = set(), []
    for name in sorted(os.listdir(feeds)):
        if name.endswith(".opml"):
            continue
        with open(os.path.join(feeds, name), "rb") as f:
            d = feedparser.parse(f.read())
        for i, e in enumerate(d.entries):
            title = plain(e.get("title", ""))
            body = ""
            if e.get("content"):
                body = e["content"][0].get("value", "")
            body = plain(body or e.get("summary", ""))
            if not title and not body:
                continue
            key = (title, body)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"id": f"{name}#{i}", "title": title, "text": body, "label": "feed"})
    with open(out, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"make-corpus: {len(rows)} entries from {feeds}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
