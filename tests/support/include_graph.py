#!/usr/bin/env python3
"""Checks that the library's headers include each other without a cycle,
and that the map of the headers in docs/design.md names each of them.

Usage: include_graph.py INCLUDE_DIR [DESIGN_MD]. Exits 1 and says what is
wrong: the cycle, or the headers the map leaves out.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
include = re.compile(r'^\s*#\s*include\s*<(tinygrad/[^>]+)>', re.M)
graph = {str(p.relative_to(root)): include.findall(p.read_text())
         for p in sorted(root.rglob('*.hpp'))}

state = {}  # header -> 'open' while on the path, 'done' after


def visit(header, path):
    state[header] = 'open'
    for included in graph.get(header, []):
        if state.get(included) == 'open':
            cycle = path[path.index(included):] + [header, included]
            sys.exit('include cycle: ' + ' -> '.join(cycle))
        if included not in state:
            visit(included, path + [header])
    state[header] = 'done'


for header in graph:
    if header not in state:
        visit(header, [])
print(f'{len(graph)} headers, no include cycle')

if len(sys.argv) > 2:
    design = pathlib.Path(sys.argv[2]).read_text()
    overview = design.split('## Data flow at a glance')[1].split('```')[1]
    named = set(re.findall(r'[\w/]+\.hpp', overview))
    missing = [h for h in graph if h.removeprefix('tinygrad/') not in named]
    if missing:
        sys.exit('docs/design.md\'s map of the headers leaves out: ' + ', '.join(missing))
    print('docs/design.md\'s map names every header')
