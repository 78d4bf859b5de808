#!/usr/bin/env python3
"""Which top-level modules of chatvault-core use which, and whether any two depend on
each other (directly or around a longer cycle). Exits 1 on a cycle.

A module's uses are the `crate::<module>` paths in its files outside comments (a
`use crate::x::…` or a `crate::x::f()` in code). Tests inside a file count too: a test
that needs a higher layer is a sign the code under test sits in the wrong one.

    python3 scripts/module-deps.py            # the graph, then "no cycle" or the cycle
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "core" / "src"
USE = re.compile(r"\bcrate::([a-z_]+)")


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0][:-3] if len(rel) == 1 else rel[0]


def code_lines(text: str):
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("//"):
            continue
        yield line.split("//", 1)[0] if '"' not in line else line


def graph():
    deps: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.rs")):
        module = module_of(path)
        if module == "lib":
            continue
        out = deps.setdefault(module, set())
        for line in code_lines(path.read_text(encoding="utf-8")):
            for used in USE.findall(line):
                if used != module:
                    out.add(used)
    return deps


def find_cycle(deps):
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(deps.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if state.get(d) is None:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(deps):
        if state.get(m) is None:
            found = visit(m)
            if found:
                return found
    return None


def main():
    deps = graph()
    for m in sorted(deps):
        print(f"{m:10} -> {', '.join(sorted(deps[m])) or '(nothing)'}")
    cycle = find_cycle(deps)
    if cycle:
        print("cycle: " + " -> ".join(cycle))
        return 1
    print("no cycle between core modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
