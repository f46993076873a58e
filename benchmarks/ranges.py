"""Ranges over several runs of ``bench_mixing.py``: each target's, and the README speed table's column.

One run's ratios move with a shared machine's load and with where the OS puts the threads, so
claims are ranges over runs, each run a separate process. Run the benchmark a few times, each into
its own folder, then read the pages together::

    for i in 1 2 3; do python benchmarks/bench_mixing.py --out bench-out/run$i; done
    python benchmarks/ranges.py bench-out/run*/benchmarks.md

It prints, for each table of targets (new batches faulted in; freed memory held; a call on a tiny
batch, one thread), every target's range, its floor's range and in how many runs it was met, then
the rows of the README's speed table as one column (the README names which targets each row spans).
Nothing is measured here.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections.abc import Sequence
from pathlib import Path

TABLE_HEADER = "| target | measured | met | floor |"
#: The batch shapes' tables of targets, in the order a page gives them.
TABLE_NAMES = ("every new batch faulted in", "freed memory held")
#: The table of per-call targets (8×3×8×8, one thread), found by the paragraph that leads it.
PER_CALL = "a call on a tiny batch"
PER_CALL_LEAD = "Per-call targets"

#: The README speed table's rows (64×3×224×224), each the targets it spans.
README_ROWS: dict[str, tuple[str, ...]] = {
    "`MixUp` / torchvision's `v2.MixUp`": ("MixUp ≤ 0.6× torchvision v2.MixUp",),
    "`MixUp` / timm's in-place `Mixup`": ("MixUp ≤ 1.0× timm's in-place Mixup (64×3×224²)",),
    "`CutMix` / `v2.CutMix`": ("CutMix ≤ 0.67× torchvision v2.CutMix",),
    "`CutMix` / timm's `Mixup` (CutMix)": ("CutMix ≤ 1.0× timm's in-place Mixup (64×3×224²)",),
    "exact `ZetaMixup` / `v2.MixUp`": ("ZetaMixup ≤ 1.0× torchvision v2.MixUp",),
    "collates / the `v2.MixUp(*default_collate(batch))` recipes": (
        "MixUpCollate ≤ 0.5× the v2.MixUp recipe (64×3×224²)",
        "CutMixCollate ≤ 0.55× the v2.CutMix recipe (64×3×224²)",
        "ZetaMixupCollate ≤ 1.0× the v2.MixUp recipe (64×3×224²)",
    ),
    "uint8 collates / their float32 time": (
        "MixUpCollate uint8 ≤ 0.4× its float32 time",
        "CutMixCollate uint8 ≤ 0.5× its float32 time",
        "ZetaMixupCollate uint8 ≤ 0.4× its float32 time",
    ),
}

Row = tuple[float, bool, float | None]  # measured ratio, met, floor (None: no floor)


def target_tables(page: str) -> dict[str, dict[str, Row]]:
    """The page's tables of targets by name: each maps a target to its ratio, whether met, floor.

    The batch shapes' tables are named in order (``TABLE_NAMES``); the per-call one by the paragraph
    before it, which a page of an earlier version of the benchmark does not have.
    """
    tables: dict[str, dict[str, Row]] = {}
    names = iter(TABLE_NAMES)
    parts = page.split(TABLE_HEADER)
    for before, part in itertools.pairwise(parts):
        table: dict[str, Row] = {}
        for line in part.splitlines()[2:]:
            if not line.startswith("|"):
                break
            target, measured, met, floor = (cell.strip() for cell in line.strip().strip("|").split("|"))
            table[target] = (_ratio(measured), met == "yes", None if floor == "—" else _ratio(floor))
        lead = before.strip().split("\n\n")[-1]
        name = PER_CALL if lead.startswith(PER_CALL_LEAD) else next(names, None)
        if name is None:
            raise ValueError(
                f"a page holds at most {len(TABLE_NAMES)} tables of targets for batch shapes, got more: "
                f"give each run's benchmarks.md as a page of its own"
            )
        tables[name] = table
    return tables


def _ratio(cell: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)×", cell)
    if match is None:
        raise ValueError(f"a ratio must read like 0.59×, got {cell!r}")
    return float(match.group(1))


def span(values: Sequence[float]) -> str:
    """``0.56–0.60×``, or ``0.56×`` for one value."""
    low, high = min(values), max(values)
    return f"{low:.2f}×" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}–{high:.2f}×"


def summary(pages: Sequence[str]) -> str:
    """The ranges over ``pages`` (each one run's ``benchmarks.md``) as Markdown."""
    runs = [target_tables(page) for page in pages]
    if not all(runs):
        raise ValueError("every page must hold a table of targets (a page of bench_mixing.py on the cpu)")
    # each table every run has: (its name, that table of each run)
    present = [
        (name, [run[name] for run in runs])
        for name in (*TABLE_NAMES, PER_CALL)
        if all(name in run for run in runs)
    ]
    lines = [f"Ranges over {len(pages)} runs.", ""]
    for name, tables in present:
        lines += [f"## Targets, {name}", "", "| target | range | met | floor |", "| --- | --- | --- | --- |"]
        for target in tables[0]:
            rows = [table[target] for table in tables if target in table]
            floors = [floor for _, _, floor in rows if floor is not None]
            met = sum(row[1] for row in rows)
            lines.append(
                f"| {target} | {span([row[0] for row in rows])} | {met} of {len(rows)} | "
                f"{span(floors) if floors else '—'} |"
            )
        lines.append("")
    for name, tables in present:
        if name == PER_CALL:  # the README's speed table is of the batch shapes' targets
            continue
        lines += [f"## README speed table, {name}", "", "| | range |", "| --- | --- |"]
        lines += [f"| {row} | {cell} |" for row, cell in readme_column(tables)]
        lines.append("")
    return "\n".join(lines)


def readme_column(tables: Sequence[dict[str, Row]]) -> list[tuple[str, str]]:
    """Each README row and the range of its targets' ratios over ``tables`` (one table a run)."""
    column = []
    for row, targets in README_ROWS.items():
        values = [table[target][0] for table in tables for target in targets if target in table]
        column.append((row, span(values) if values else "—"))
    return column


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path, help="benchmarks.md of each run")
    args = parser.parse_args(argv)
    text = summary([page.read_text() for page in args.pages])
    sys.stdout.write(text)
    return text


if __name__ == "__main__":
    main()
