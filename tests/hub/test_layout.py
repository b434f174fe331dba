#!/usr/bin/python3
"""test_layout.py — the shape of hub/: no circle of modules, no file over 1,000 lines.

A module is a stem: hub/x.c and hub/x.h together. Module A depends on module B when a file
of A includes "B.h", or calls a function that B defines (or B.h declares). The test fails
when

  - the dependencies between hub modules form a cycle (it names one),
  - a header declares a function that its own .c does not define (a function must be
    declared where it lives, or calls would hide behind another module's header),
  - a hub/*.c file has more than 1,000 lines.

usage: test_layout.py HUB_DIR [-v]   (-v prints every module's dependencies)
"""
import os
import re
import sys

MAX_LINES = 1000
HUB = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "hub")
VERBOSE = "-v" in sys.argv

IDENT_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "static_assert",
            "_Alignas", "_Static_assert", "__attribute__", "typeof", "offsetof"}


def strip(text):
    """C text without comments, string/char literals and preprocessor lines."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\\n])*'", "''", text)
    out, cont = [], False
    for line in text.split("\n"):
        if cont or line.lstrip().startswith("#"):
            cont = line.rstrip().endswith("\\")
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)


def top_level(text):
    """(statement head, has_body) for every top-level statement or definition."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                items.append((text[start:i], True))
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif ch == ";" and depth == 0:
            items.append((text[start:i], False))
            start = i + 1
    return items


def func_name(head):
    head = " ".join(head.split())
    if not head or "=" in head.split("(")[0] or head.startswith(("typedef", "extern \"C\"")):
        return None
    m = IDENT_CALL.search(head)
    if not m or m.group(1) in KEYWORDS:
        return None
    if re.match(r"^(struct|union|enum)\s+\w+$", head):
        return None
    return m.group(1)


def main():
    files = sorted(f for f in os.listdir(HUB) if f.endswith((".c", ".h")))
    modules = {os.path.splitext(f)[0] for f in files}
    text = {f: open(os.path.join(HUB, f), encoding="utf-8").read() for f in files}
    problems = []

    declared = {}  # function -> module whose header declares it
    defined = {}   # function -> module whose .c defines it (non-static)
    for f in files:
        mod, ext = os.path.splitext(f)
        for head, body in top_level(strip(text[f])):
            name = func_name(head)
            if not name:
                continue
            is_static = re.match(r"\s*(static|inline)\b", head) is not None
            if ext == ".h" and not body and not is_static:
                declared[name] = mod
            elif ext == ".c" and body and not is_static:
                defined[name] = mod
    for name, mod in sorted(declared.items()):
        where = defined.get(name)
        if where is not None and where != mod:
            problems.append(f"{mod}.h declares {name}() but {where}.c defines it")

    deps = {m: set() for m in modules}
    for f in files:
        mod = os.path.splitext(f)[0]
        for inc in INCLUDE.findall(text[f]):
            other = os.path.splitext(inc)[0]
            if inc.endswith(".h") and other in modules and other != mod:
                deps[mod].add(other)
        if f.endswith(".c"):
            for name in set(IDENT_CALL.findall(strip(text[f]))):
                # A call depends on the module that runs the function.
                other = defined.get(name, declared.get(name))
                if other and other != mod:
                    deps[mod].add(other)
            lines = text[f].count("\n")
            if lines > MAX_LINES:
                problems.append(f"{f} has {lines} lines (at most {MAX_LINES}): split it")

    # A cycle, by depth-first search (white/grey/black).
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(deps[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(modules):
        if m not in state:
            cycle = visit(m)
            if cycle:
                problems.append("cycle between hub modules: " + " -> ".join(cycle))
                break

    if VERBOSE:
        for m in sorted(modules):
            print(f"{m}: {' '.join(sorted(deps[m]))}")
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"PASS: {len(modules)} hub modules, no cycle, every .c at most {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
