#!/usr/bin/env python3
"""Parses Swift sources with tree-sitter's Swift grammar and fails on syntax errors.

The package's files that need Apple-only frameworks (Security, Network, BackgroundTasks)
cannot be compiled on Linux; scripts/test.sh runs this on them: they parse. Types and API
use are not checked there (see README). Every other file is compiled with Swift 6 by
scripts/test-swift.sh.
Usage: check-swift.py FILE_OR_DIR...
"""
import pathlib
import sys

import re

import tree_sitter
import tree_sitter_swift

# Valid Swift (5.8+) that the tree-sitter grammar does not know; UniFFI emits it. Blanked
# out (same length, so positions stay right) before parsing.
UNKNOWN_TO_GRAMMAR = re.compile(rb"@_documentation\(visibility:\s*\w+\)")


def errors(node, out):
    if node.is_error or node.is_missing:
        out.append(node)
    for child in node.children:
        if child.has_error or child.is_missing:
            errors(child, out)
    return out


def main(paths):
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    files = []
    for p in map(pathlib.Path, paths):
        files += sorted(p.rglob("*.swift")) if p.is_dir() else [p]
    if not files:
        print("no Swift files found", file=sys.stderr)
        return 1
    bad = 0
    for f in files:
        source = UNKNOWN_TO_GRAMMAR.sub(lambda m: b" " * len(m.group(0)), f.read_bytes())
        tree = parser.parse(source)
        if tree.root_node.has_error:
            bad += 1
            for n in errors(tree.root_node, [])[:5]:
                line, col = n.start_point
                snippet = f.read_text().splitlines()[line][:100] if line < len(f.read_text().splitlines()) else ""
                print(f"{f}:{line + 1}:{col + 1}: syntax error near: {snippet.strip()}")
    print(f"swift syntax: {len(files) - bad} of {len(files)} files parse")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
