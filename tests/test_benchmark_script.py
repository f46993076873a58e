"""The benchmark script runs end to end (quick mode) and writes its page; no timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tests.figures import assert_drawn

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str = "bench_mixing"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_writes_its_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load()
    chart = tmp_path / "assets" / "benchmarks.png"
    # the tree as git sees it: changed once the chart is written (docs/assets is tracked)
    monkeypatch.setattr(module, "_commit", lambda: "abc1234" + ("+changes" if chart.exists() else ""))
    modes = []  # the test process keeps its own malloc settings; the page names the benchmark's
    monkeypatch.setattr(module, "set_malloc", lambda mode: modes.append(mode) or f"malloc set {mode}")
    result = module.main(["--quick", "--out", str(tmp_path)])
    page = (tmp_path / "benchmarks.md").read_text()
    assert " at commit abc1234: " in page  # the tree measured, not the one the run left
    assert modes == ["fresh"] and "; malloc set fresh; " in page
    for heading in (
        "## Targets",
        "## Large batches",
        "## Fast paths",
        "## Per call",
        "## Graph breaks",
        "float32",
        "uint8",
    ):
        assert heading in page
    per_call = {name: (ops, us, ratio) for name, ops, us, ratio in result["per_call"]}
    assert {"MixUp", "CutMix", "ZetaMixup", "FMix", "ResizeMix"} <= set(per_call)
    assert all(ops > 0 and us > 0 and ratio > 0 for ops, us, ratio in per_call.values())
    if module.timm is not None:  # the ratios are to timm's mixup; each per-call target has a row
        assert per_call["timm Mixup (mixup)"][2] == 1.0
        rows = result["per_call_targets"]
        assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [t[0] for t in module.PER_CALL_TARGETS]
        assert all(row in page for row in rows) and "× timm's CutMix |" in page
        ranges = _load("ranges")  # the page's lead of the per-call table is the one ranges.py finds
        assert set(ranges.target_tables(page)[ranges.PER_CALL]) == {t[0] for t in module.PER_CALL_TARGETS}
    else:  # the ratios are to the bare call; no targets without their anchors
        assert per_call[module.BARE_CALL][2] == 1.0 and result["per_call_targets"] == []
    assert "torch CPU capability" in page and "fast paths on: " in page
    targets = page[page.index("## Targets") : page.index("*Floor*")]
    held = page[page.index("With freed memory held") : page.index("## ", page.index("*Floor*"))]
    # the second process's table: the same targets, but drawing W's (its batch shape is not measured)
    held_rows = [line.split("|")[1] for line in held.splitlines() if line.startswith("| ") and "×" in line]
    assert held_rows == [line.split("|")[1] for line in targets.splitlines() if "×" in line][:-1]
    rows = [line.split("|")[1:-1] for line in targets.splitlines() if line.startswith("| ") and "×" in line]
    floors = {what.strip(): floor.strip() for what, _, _, floor in rows}
    present = [target for target in module.TARGETS if target.what in floors]
    assert len(present) == len(floors) and (module.timm is None or len(present) == len(module.TARGETS))
    for target in present:  # a floor is a ratio of the cases it names, where it names any
        assert floors[target.what].endswith("×") == bool(target.floor), target.what
    copy_floor = float(floors["MixUp uint8 ≤ 4× a copy of the uint8 batch"].rstrip("×"))
    assert copy_floor == 1.0  # the copy over itself, round by round
    routes = {row[0] for row in result["fast_paths"]}
    # every fast path is measured on and off; fetch_rows (across ranks) by bench_distributed.py
    assert routes == set(module._backend.ROUTES) - {"fetch_rows"}
    assert all(on > 0 and off > 0 for _, _, on, off, _ in result["fast_paths"])
    for measurement in result["measurements"]:
        for case in measurement.cases:
            times = measurement.times[case.name]
            assert len(times) == 3 and all(t > 0 for t in times)
    assert dict(result["breaks"])["zmix_transforms F.cutmix"] == "0"
    assert_drawn(tmp_path / "assets" / "benchmarks.png")
    assert module.CUDA_PLACEHOLDER in page  # no GPU measured yet: the page says so


def _page(
    rows: list[tuple[str, float, float | None]],
    held: list[tuple[str, float, float | None]],
    per_call: list[tuple[str, float, float | None]] | None = None,
) -> str:
    """A benchmark page's tables of targets, each row (target, measured, floor): the batch shapes'
    two, and the per-call one where given."""

    def table(rows: list[tuple[str, float, float | None]]) -> str:
        lines = [
            f"| {what} | {value:.2f}× | {'yes' if value <= 1 else '**no**'} | "
            f"{'—' if floor is None else f'{floor:.2f}×'} |"
            for what, value, floor in rows
        ]
        return "| target | measured | met | floor |\n| --- | --- | --- | --- |\n" + "\n".join(lines) + "\n"

    calls = (
        "" if per_call is None else f"## Per call\n\n| call |\n\nPer-call targets: ...\n\n{table(per_call)}\n"
    )
    return f"# Benchmarks\n\n## Targets (cpu)\n\n{table(rows)}\n*Floor*: ...\n\nheld:\n\n{table(held)}\n{calls}## Next\n"


def test_the_ranges_over_runs_read_every_page(tmp_path: Path) -> None:
    """Each target's range is the least and greatest of its runs, met counted run by run; the
    README's rows span the targets they name, each of which the benchmark measures."""
    module, ranges = _load(), _load("ranges")
    names = {target.what for target in module.TARGETS}
    assert {target for targets in ranges.README_ROWS.values() for target in targets} <= names
    mixup, zeta = "MixUp ≤ 0.6× torchvision v2.MixUp", "ZetaMixup ≤ 1.0× torchvision v2.MixUp"
    runs = [
        _page([(mixup, 0.57, 0.41), (zeta, 0.91, 0.8)], [(mixup, 0.6, 0.3), (zeta, 1.2, 1.4)]),
        _page([(mixup, 0.52, 0.44), (zeta, 1.07, 0.9)], [(mixup, 0.61, 0.2), (zeta, 1.1, None)]),
    ]
    for i, page in enumerate(runs):
        (tmp_path / f"run{i}.md").write_text(page)
    text = ranges.main([str(tmp_path / f"run{i}.md") for i in range(2)])
    assert f"| {mixup} | 0.52–0.57× | 2 of 2 | 0.41–0.44× |" in text
    assert f"| {zeta} | 0.91–1.07× | 1 of 2 | 0.80–0.90× |" in text
    held = text[text.index("freed memory held") :]
    assert f"| {zeta} | 1.10–1.20× | 0 of 2 | 1.40× |" in held  # a floor in one run only
    assert "| exact `ZetaMixup` / `v2.MixUp` | 0.91–1.07× |" in text
    assert "| `CutMix` / `v2.CutMix` | — |" in text  # a row whose targets no page has
    with pytest.raises(ValueError, match=r"a ratio must read like 0\.59×, got 'fast'"):
        ranges.summary([runs[0].replace("0.57×", "fast")])


def test_the_ranges_read_the_per_call_targets_by_their_lead(tmp_path: Path) -> None:
    """The per-call table is named by the paragraph before it, wherever it stands; a run without one
    (an earlier benchmark's page) leaves it out, and it gives no README column."""
    module, ranges = _load(), _load("ranges")
    mixup = "MixUp ≤ 0.6× torchvision v2.MixUp"
    call = module.PER_CALL_TARGETS[0][0]
    shapes = [(mixup, 0.57, 0.41)], [(mixup, 0.6, 0.3)]
    pages = [_page(*shapes, [(call, 0.97, 0.37)]), _page(*shapes, [(call, 0.93, 0.35)]), _page(*shapes)]
    text = ranges.summary(pages[:2])
    calls = text[text.index(f"## Targets, {ranges.PER_CALL}") :]
    assert calls.startswith(f"## Targets, {ranges.PER_CALL}\n\n| target | range | met | floor |")
    assert f"| {call} | 0.93–0.97× | 2 of 2 | 0.35–0.37× |" in calls
    assert text.count("## README speed table") == 2 and call not in text[: text.index(ranges.PER_CALL)]
    assert f"| {mixup} | 0.57× | 2 of 2 | 0.41× |" in text  # the shapes' tables read as before
    assert ranges.PER_CALL not in ranges.summary(pages)
    with pytest.raises(ValueError, match="a page holds at most 2 tables of targets for batch shapes"):
        ranges.summary([_page(*shapes) + _page(*shapes)])


def test_a_measured_cuda_section_survives_a_cpu_rerun(tmp_path: Path) -> None:
    module = _load()
    cpu_page = "# Benchmarks\n\nCPU tables\n"
    with_placeholder = module.merge_cuda_section(cpu_page, module.CUDA_PLACEHOLDER)
    assert module.existing_cuda_section(with_placeholder) is None
    measured = "## CUDA (H100)\n\n| case | kind | median ms | × copy of the batch |\n"
    with_gpu = module.merge_cuda_section(with_placeholder, measured)
    assert with_gpu.count(module.CUDA_START) == 1 and "Not measured on a GPU yet" not in with_gpu
    assert module.existing_cuda_section(with_gpu) == measured
    rerun = module.merge_cuda_section(
        "# Benchmarks\n\nnew CPU tables\n", module.existing_cuda_section(with_gpu)
    )
    assert "new CPU tables" in rerun and measured in rerun


def test_a_cuda_section_names_the_commit_it_measured() -> None:
    module = _load()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    section = module.cuda_section([], "a GPU")
    assert section.startswith("## CUDA (a GPU, measured ")
    if head.returncode == 0:  # a checkout: its commit, marked when the tree has changes
        assert f"at commit {head.stdout.strip()}" in section


def test_a_copy_without_git_names_its_commit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZMIX_BENCH_COMMIT", "abc1234")
    section = _load().cuda_section([], "a GPU")
    assert section.splitlines()[0].endswith("at commit abc1234)")


def test_the_distributed_benchmark_measures_both_routes(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "bench_distributed.py"  # spawns its ranks: run as a script
    subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path)], check=True, timeout=300)
    page = (tmp_path / "distributed_cost.md").read_text()
    for method in ("MixUp", "CutMix", "ZetaMixup(max_terms=4)"):
        for route in ("fetch the rows needed", "gather every batch"):
            assert f"| {method}, across ranks: {route} | " in page


FAULTS_OF_FREED_BLOCKS = """
import ctypes, json, resource, sys
sys.path.insert(0, sys.argv[1])
import bench_mixing
print(bench_mixing.set_malloc(sys.argv[2]), file=sys.stderr)
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes, libc.memset.argtypes = [ctypes.c_void_p], [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
faults, size = [], int(sys.argv[3])
for _ in range(8):  # two blocks written and freed, as a batch and its mix are
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(size) for _ in range(2)]
    for block in blocks:
        libc.memset(block, 1, size)
    for block in blocks:
        libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc settings"
)
@pytest.mark.parametrize("size", [256 << 10, 3 << 20, 40 << 20], ids=["256 KiB", "3 MiB", "40 MiB"])
def test_the_benchmarks_malloc_modes_fault_in_every_new_block_or_none(size: int) -> None:
    def faults(mode: str) -> list[int]:
        args = [sys.executable, "-c", FAULTS_OF_FREED_BLOCKS, str(ROOT / "benchmarks"), mode, str(size)]
        run = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
        return json.loads(run.stdout)

    pages = 2 * size // 4096
    # fresh: every round maps the blocks anew and faults in all their pages
    assert min(faults("fresh")) >= pages
    # held: after the first rounds, the blocks reuse the heap's pages (a fault or two from Python)
    assert sum(faults("held")[2:]) < 64
