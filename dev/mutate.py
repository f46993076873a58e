"""Mutation testing by hand: does the suite notice when the package's code is changed?

Each mutant changes one spot of one module (a comparison flipped, ``and`` for ``or``, an integer
plus one, a float or bool constant changed, an ``if`` negated), then runs the fast tests with ``-x``
in a clone of the repository, so the working tree is never touched. A mutant the tests pass is a
survivor: either an equivalent change (a cache's size, a fast path's threshold, ``strict=True`` on
a zip of equal lengths) or a behaviour no test pins down, which deserves a test. Not part of
``make test``: a run of 50 mutants takes about 40 minutes on 2 cores.

Usage (prints one JSON line per mutant)::

    git clone -q . /tmp/mut
    python dev/mutate.py --root /tmp/mut --count 50 --seed 1 > /tmp/mutants.jsonl

``--changed-since COMMIT`` draws only from the lines a change added or rewrote (``git diff COMMIT``
in the clone): a targeted run of new code. ``--module NAME`` draws only from the modules of that file
name (repeatable: ``_distributed.py``, skipped by default, included when named), and ``--tests NAME``
runs those test modules (``distributed`` for ``tests/test_distributed.py``) instead of the fast ones.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

FAST_TESTS = [
    *("properties", "errors", "bad_inputs", "options", "collate", "modes", "volumes", "inplace", "draws"),
    *("fast_paths", "fuzz", "api", "timm", "migration", "keras", "across_kernels"),
]
SKIPPED_MODULES = ("_distributed.py", "huggingface.py", "__init__.py")  # their tests are slow or extras'
FLIPPED: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}  # fmt: skip
ARITHMETIC: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}


def spots(tree: ast.AST) -> list[tuple[ast.AST, int]]:
    """Every place a mutant can change, as (node, which operator of a comparison)."""
    found: list[tuple[ast.AST, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            found += [(node, i) for i in range(len(node.ops))]
        elif (
            (isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC)
            or isinstance(node, (ast.BoolOp, ast.If))
            or (isinstance(node, ast.Constant) and type(node.value) in (int, float, bool))
        ):
            found.append((node, 0))
    return found


def mutate(node: ast.AST, index: int) -> None:
    """Change ``node`` in place."""
    if isinstance(node, ast.Compare):
        node.ops[index] = FLIPPED.get(type(node.ops[index]), ast.Eq)()
    elif isinstance(node, ast.BinOp):
        node.op = ARITHMETIC[type(node.op)]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.If):
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        node.value = not node.value
    elif isinstance(node, ast.Constant):
        node.value = node.value + 1 if type(node.value) is int else node.value * 2 + 0.5


def changed_lines(root: Path, commit: str) -> dict[Path, set[int]]:
    """The lines of each package file that ``git diff COMMIT`` shows as added or changed."""
    diff = subprocess.run(
        ["git", "diff", "-U0", commit, "--", "zmix_transforms"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines: dict[Path, set[int]] = {}
    path = None
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            path = root / line[len("+++ b/") :]
        elif line.startswith("@@") and path is not None:
            start, _, count = line.split("+")[1].split(" ")[0].partition(",")
            first, length = int(start), int(count or 1)
            lines.setdefault(path, set()).update(range(first, first + length))
    return lines


def main() -> None:
    """Run ``--count`` mutants drawn with ``--seed`` in ``--root``, one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="a clone of the repository (it is mutated)")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=400, help="seconds a mutant's tests may take")
    parser.add_argument(
        "--changed-since", metavar="COMMIT", help="only spots on lines the clone changed since COMMIT"
    )
    parser.add_argument(
        "--module", action="append", default=[], help="only modules of this file name (repeatable)"
    )
    parser.add_argument(
        "--tests", action="append", default=[], help="run tests/test_NAME.py instead of the fast tests"
    )
    args = parser.parse_args()
    root = args.root.resolve()
    if root == Path(__file__).resolve().parents[1]:
        sys.exit("--root must be a clone, not this working tree: mutants are written into it")
    package = root / "zmix_transforms"
    wanted = (lambda name: name in args.module) if args.module else (lambda name: name not in SKIPPED_MODULES)
    modules = sorted(p for p in package.rglob("*.py") if wanted(p.name))
    if not modules:
        sys.exit(f"--module names no module of the package, got {args.module}")
    changed = None if args.changed_since is None else changed_lines(root, args.changed_since)
    candidates = [
        (path, i)
        for path in modules
        for i, (node, _) in enumerate(spots(ast.parse(path.read_text())))
        if changed is None or getattr(node, "lineno", 0) in changed.get(path, ())
    ]
    tests = [f"tests/test_{name}.py" for name in args.tests or FAST_TESTS]
    env = {**os.environ, "PYTHONPATH": str(root), "ZMIX_TESTS_LEG": "1"}
    for path, i in random.Random(args.seed).sample(candidates, min(args.count, len(candidates))):
        source = path.read_text()
        tree = ast.parse(source)
        node, index = spots(tree)[i]
        before = ast.unparse(node)[:90]
        mutate(node, index)
        after = ast.unparse(node)[:90]
        start = time.time()
        try:
            path.write_text(ast.unparse(tree))
            command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
            run = subprocess.run(
                command, cwd=root, env=env, capture_output=True, text=True, timeout=args.timeout
            )
            outcome = "killed" if run.returncode else "survived"
            summary = (run.stdout.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            outcome, summary = "timeout", ""
        finally:
            path.write_text(source)
        line = getattr(node, "lineno", 0)
        record = {"module": str(path.relative_to(root)), "line": line, "before": before, "after": after}
        seconds = round(time.time() - start)
        print(json.dumps({**record, "outcome": outcome, "seconds": seconds, "tests": summary}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
