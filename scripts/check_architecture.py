"""Architecture checks that import-linter's contracts do not express (run by ``make lint``).

1. **No import cycle** between any two modules of ``cisgram``, imports inside functions included
   (strongly connected components of grimp's import graph).
2. **No private name crosses a module**: no ``from cisgram.x import _name`` (dunders aside) in
   ``src/``.
3. **Modules stay readable**: none over :data:`MAX_MODULE_LINES` lines.
4. **Workflows stay short**: no function in ``cisgram.workflows`` over :data:`MAX_WORKFLOW_FUNCTION`
   lines of code (signature and body; the docstring is not counted).

Prints one line per check and a JSON summary as its last line; exits 1 when a check fails.

    python scripts/check_architecture.py [--src src]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

MAX_MODULE_LINES = 600
MAX_WORKFLOW_FUNCTION = 120


def modules(src: Path) -> dict[str, Path]:
    """``{dotted name: path}`` of every module of the cisgram package under ``src``."""
    out = {}
    for p in sorted((src / "cisgram").rglob("*.py")):
        parts = list(p.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the cisgram modules it imports (anywhere in its body)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name and t != "cisgram":
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def private_imports(mods: dict[str, Path]) -> list[str]:
    """``module: from X import _name`` for every private name imported from another module."""
    bad = []
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cisgram"):
                for a in node.names:
                    if a.name.startswith("_") and not (a.name.startswith("__") and a.name.endswith("__")):
                        bad.append(f"{name}: from {node.module} import {a.name}")
    return bad


def long_modules(mods: dict[str, Path]) -> list[str]:
    return [f"{n}: {len(p.read_text().splitlines())} lines" for n, p in mods.items()
            if len(p.read_text().splitlines()) > MAX_MODULE_LINES]


def code_lines(node: ast.AST) -> int:
    """Lines of a function without its docstring."""
    n = node.end_lineno - node.lineno + 1
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        n -= body[0].end_lineno - body[0].lineno + 1
    return n


def long_workflow_functions(mods: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in mods.items():
        if not name.startswith("cisgram.workflows"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and code_lines(node) > MAX_WORKFLOW_FUNCTION:
                bad.append(f"{name}.{node.name}: {code_lines(node)} lines of code")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    a = ap.parse_args()
    mods = modules(a.src)
    graph = import_graph(mods)
    found = {"cycles": [" -> ".join(c) for c in cycles(graph)], "private_imports": private_imports(mods),
             "long_modules": long_modules(mods), "long_workflow_functions": long_workflow_functions(mods)}
    for check, problems in found.items():
        print(f"{check}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for p in problems:
            print(f"    {p}")
    largest = max(mods, key=lambda m: len(mods[m].read_text().splitlines()))
    print(json.dumps({"modules": len(mods), "imports": sum(map(len, graph.values())),
                      "largest_module": [largest, len(mods[largest].read_text().splitlines())],
                      **{k: len(v) for k, v in found.items()}}))
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
