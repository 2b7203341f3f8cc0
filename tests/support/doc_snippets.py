#!/usr/bin/env python3
"""Turns every ```cpp block of the documentation into a test.

Usage: doc_snippets.py SOURCE_DIR OUT_DIR FILE.md...   writes the tests
       doc_snippets.py --excerpt SOURCE_DIR FILE.excerpt  checks an excerpt

A block's name is <file>_<line>, <line> being its first line. What it
becomes depends on an HTML comment on the line before it (invisible on the
rendered page):

  (none)                          a program if it defines main (written to
                                  OUT_DIR/<name>.cpp), else statements, run
                                  in a function of OUT_DIR/fragments.cpp
  <!-- snippet: declarations -->  declarations, at namespace scope in
                                  fragments.cpp
  <!-- snippet: excerpt PATH -->   an excerpt of the file PATH: each of its
                                  lines but `...` appears there, in order
                                  (OUT_DIR/<name>.excerpt)

Fragments share one program, so that the suite compiles them once: each in a
namespace of its own, after the includes below. A program whose next block
is an ```output block must print exactly that (OUT_DIR/<name>.expected).
OUT_DIR/snippets.txt lists the programs and excerpts, one `name kind` a line.
"""
import pathlib
import re
import sys

PREAMBLE = """\
#include <tinygrad/tinygrad.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <span>
#include <vector>

using tinygrad::Var;
"""

FENCE = re.compile(r'^```(\S*)\s*$')
MARK = re.compile(r'^<!--\s*snippet:\s*(declarations|excerpt\s+(\S+))\s*-->\s*$')


def blocks(lines):
    """(first line number, info string, code lines, mark) of each fenced block."""
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        mark = MARK.match(lines[i - 1]) if i > 0 else None
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].startswith('```'):
            j += 1
        yield start + 1, m.group(1), lines[start:j], mark
        i = j + 1


def write_tests(source, out, docs):
    out.mkdir(parents=True, exist_ok=True)
    listing, fragments, runs = [], [], []
    for doc in docs:
        lines = (source / doc).read_text().splitlines()
        found = list(blocks(lines))
        for k, (line, info, code, mark) in enumerate(found):
            if info != 'cpp':
                continue
            name = re.sub(r'\W', '_', doc.removesuffix('.md')) + f'_{line}'
            body = '\n'.join(code) + '\n'
            if mark and mark.group(2):
                (out / f'{name}.excerpt').write_text(f'{mark.group(2)}\n{body}')
                listing.append(f'{name} excerpt')
            elif mark:
                fragments.append(f'// {doc}, line {line}\nnamespace {name} {{\n{body}}}  // namespace {name}\n')
            elif not re.search(r'\bint main\(', body):
                indented = ''.join(f'  {l}\n' if l else '\n' for l in code)
                fragments.append(f'// {doc}, line {line}\nnamespace {name} {{\nvoid run() {{\n{indented}}}\n}}  // namespace {name}\n')
                runs.append(f'  {name}::run();\n')
            else:
                (out / f'{name}.cpp').write_text(f'// From {doc}, line {line}.\n{body}')
                following = found[k + 1] if k + 1 < len(found) else None
                if following and following[1] == 'output':
                    (out / f'{name}.expected').write_text('\n'.join(following[2]) + '\n')
                listing.append(f'{name} program')
    (out / 'fragments.cpp').write_text(
        '// The documentation\'s code fragments, from tests/support/doc_snippets.py.\n' +
        '// A fragment may declare what the page\'s prose goes on to use.\n' +
        '#pragma GCC diagnostic ignored "-Wunused-variable"\n' + PREAMBLE + '\n' + '\n'.join(fragments) + '\nint main() {\n' + ''.join(runs) + '}\n')
    (out / 'snippets.txt').write_text(''.join(f'{l}\n' for l in listing))


def check_excerpt(source, excerpt):
    path, *code = pathlib.Path(excerpt).read_text().splitlines()
    text = (source / path).read_text().splitlines()
    def without_comment(line):  # a trailing // comment may differ
        return line.split('//')[0].strip()

    at = 0
    for line in code:
        if without_comment(line) in ('', '...'):
            continue
        while at < len(text) and without_comment(text[at]) != without_comment(line):
            at += 1
        if at == len(text):
            sys.exit(f'{excerpt}: "{line.strip()}" is not in {path} (after the lines before it)')
        at += 1
    print(f'{excerpt}: every line is in {path}, in order')


def main():
    if sys.argv[1] == '--excerpt':
        check_excerpt(pathlib.Path(sys.argv[2]), sys.argv[3])
    else:
        write_tests(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:])


main()
