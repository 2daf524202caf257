#!/usr/bin/env python3
"""Lists Rust functions longer than N lines (default 120) outside tests,
fuzz and target: the issue-22 check. Counts braces from `fn` to its closing
brace, ignoring braces in string and char literals and // comments.

    python3 scripts/long-fns.py [N]
"""
import os
import re
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
N=int(sys.argv[1]) if len(sys.argv)>1 else 120
out=[]
for root,_,files in os.walk('.'):
    if '/target' in root or '/tests' in root or '/.git' in root or 'fuzz' in root: continue
    for f in files:
        if not f.endswith('.rs'): continue
        p=os.path.join(root,f)
        lines=open(p,encoding='utf-8',errors='replace').read().split('\n')
        # cut at #[cfg(test)]
        for i,l in enumerate(lines):
            if l.startswith('#[cfg(test)]'):
                lines=lines[:i]; break
        i=0
        while i<len(lines):
            m=re.match(r'\s*(pub(\([a-z]+\))?\s+)?(async\s+)?fn\s+([a-zA-Z0-9_]+)',lines[i])
            if m:
                depth=0; started=False; j=i
                while j<len(lines):
                    code=re.sub(r"'(\\.|[^'\\])'", "''", lines[j])
                    code=re.sub(r'"(\\.|[^"\\])*"', '""', code)
                    code=code.split('//')[0]
                    for ch in code:
                        if ch=='{': depth+=1; started=True
                        elif ch=='}': depth-=1
                    if started and depth==0: break
                    if not started and lines[j].rstrip().endswith(';'): break
                    j+=1
                if started and j-i+1>N: out.append((j-i+1,p,m.group(4)))
                i+=1
            else: i+=1
for n,p,name in sorted(out,reverse=True): print(n,p,name)
