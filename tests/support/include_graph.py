#!/usr/bin/env python3
"""Checks that the library's headers include each other without a cycle.

Usage: include_graph.py INCLUDE_DIR. Exits 1 and prints the cycle if there is one.
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
