#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/<target>/) from the feed corpus
# (../shared/data/feeds: real and hostile), the shipped and test pipelines,
# and URLs found in real feeds. Files over 32 KB are left out: libFuzzer
# mutates small inputs far faster, and the big hostile files are covered by
# tests/hostile_corpus.rs. Seeds are named by content hash, as libFuzzer does.
#   fuzz/seed.sh [FEED_CORPUS]
set -euo pipefail
cd "$(dirname "$0")"
FEEDS="${1:-${AGG_FEED_CORPUS:-../../shared/data/feeds}}"
MAX=32768
put() { # TARGET FILE [PREFIX_BYTE_OCTAL]
    local t="$1" f="$2" tmp
    mkdir -p "corpus/$t"
    tmp="$(mktemp)"
    if [[ -n "${3:-}" ]]; then printf "\\$3" >"$tmp"; fi
    cat "$f" >>"$tmp"
    mv "$tmp" "corpus/$t/$(sha1sum "$tmp" | cut -d' ' -f1)"
}
while IFS= read -r -d '' f; do
    [[ $(stat -c %s "$f") -le $MAX ]] || continue
    if grep -qi '<opml' "$f" 2>/dev/null || [[ "$f" == *.opml ]]; then
        put opml "$f"
    else
        # The feed target's first byte picks a Content-Type; 0 means none.
        put feed "$f" 000
    fi
done < <(find "$FEEDS/real" "$FEEDS/hostile" -type f -print0)
for f in ../pipelines/*.yaml ../tests/pipelines/*/*.yaml ../agents/*.yaml; do
    [[ -f "$f" ]] && put pipeline "$f"
done
# URLs: links from real feeds, plus the shapes canonicalisation cares about.
mkdir -p corpus/url
urls="$(mktemp)"
# (head closes the pipe early: grep's SIGPIPE is expected, not an error.)
{ grep -rhoaE 'https?://[^"<> ]{4,200}' "$FEEDS/real" | sort -u | head -300; } >"$urls" || true
{
    cat "$urls"
    printf '%s\n' 'HTTP://Example.COM:80/a/../b?utm_source=x&b=2&a=1#frag' \
        'https://xn--nxasmq6b.example/%7euser/?fbclid=1' 'https://[::1]:443/p?q=%zz' \
        'http://user:pass@host/?utm_medium=a&UTM_CAMPAIGN=b' ' https://ex.com/ ?a=1&a=2 '
} | while IFS= read -r u; do
    printf '%s' "$u" >"corpus/url/$(printf '%s' "$u" | sha1sum | cut -d' ' -f1)"
done
rm -f "$urls"
# Digest: arbitrary bytes are the input; start from a few random buffers.
mkdir -p corpus/digest
for i in $(seq 1 16); do
    head -c $((64 * i)) /dev/urandom >"corpus/digest/seed-$i"
done
for t in feed pipeline opml url digest; do
    echo "$t: $(ls "corpus/$t" | wc -l) seeds, $(du -sh "corpus/$t" | cut -f1)"
done
