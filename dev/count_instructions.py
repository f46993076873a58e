"""Count the machine instructions one call executes, under valgrind's callgrind (a developer's tool).

Time per call on a small batch moves by a third between runs on a shared machine; the number of
instructions a call executes does not (the same to 0.5 % between runs). This runs each case in a
child process under ``valgrind --tool=callgrind --instr-atstart=no``, turns the counting on with
``callgrind_control`` only around the timed calls (not the imports), and prints instructions per
call, beside timm's ``Mixup`` when timm is installed. Fewer instructions is not always less time
(cache misses and branch mispredictions are not counted), but a change that removes work shows.

Usage::

    python dev/count_instructions.py        # MixUp, CutMix, ZetaMixup, timm's Mixup (mixup, CutMix)
    python dev/count_instructions.py ZetaMixup --calls 100 --shape 8 3 8 8

Needs valgrind (``callgrind_control`` on the PATH); about a minute a case, two at a time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CASES = ("MixUp", "CutMix", "ZetaMixup", "timm", "timm-cutmix")


def child(name: str, calls: int, shape: list[int], flag: Path) -> None:
    """Build the case, warm it up, then wait for the parent to turn counting on; call it ``calls`` times."""
    import torch

    torch.set_num_threads(1)
    x, y = torch.rand(*shape), torch.randint(0, 10, (shape[0],))
    if name.startswith("timm"):
        from timm.data import Mixup

        alphas = (0.0, 1.0) if name == "timm-cutmix" else (1.0, 0.0)
        mixup = Mixup(mixup_alpha=alphas[0], cutmix_alpha=alphas[1], label_smoothing=0.0, num_classes=10)

        def call() -> object:
            return mixup(x.clone(), y)  # timm mixes in place: a copy, as the benchmark gives it
    else:
        import zmix_transforms

        transform = getattr(zmix_transforms, name)(num_classes=10)

        def call() -> object:
            return transform(x, y)

    for _ in range(50):
        call()
    _signal(flag, "ready", "go")
    for _ in range(calls):
        call()
    _signal(flag, "done", "exit")


def _signal(flag: Path, say: str, answer: str) -> None:
    """Tell the other side ``say`` (a file beside ``flag``), then wait for its ``answer``."""
    flag.with_suffix("." + say).touch()
    _wait_for(flag.with_suffix("." + answer), 600.0)


def _wait_for(path: Path, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``path`` exists; raise after ``timeout`` seconds, or once ``process`` has exited."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the child exited (status {process.returncode}) before {path.suffix[1:]!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {path.suffix[1:]!r} within {timeout} s")
        time.sleep(0.05)


def count(name: str, calls: int, shape: list[int]) -> float:
    """Instructions per call of case ``name``, counted by callgrind around the calls only."""
    with tempfile.TemporaryDirectory() as folder:
        flag, out = Path(folder) / "flag", Path(folder) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--child", name, "--calls", str(calls),
            "--shape", *map(str, shape), "--flag", str(flag),
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for say, answer, switch in (("ready", "go", "on"), ("done", "exit", "off")):
                _wait_for(flag.with_suffix("." + say), 900.0, process)
                subprocess.run(["callgrind_control", "-i", switch, str(process.pid)], check=True,
                               capture_output=True, timeout=60)  # fmt: skip
                flag.with_suffix("." + answer).touch()
            if process.wait(timeout=600) != 0:
                raise RuntimeError(f"{name}: the child exited with status {process.returncode}")
        finally:
            if process.poll() is None:
                process.kill()
        totals = [
            int(match.group(1))
            for path in Path(folder).glob("callgrind.out*")
            for match in re.finditer(r"^(?:summary|totals): (\d+)", path.read_text(), re.MULTILINE)
        ]
    return max(totals) / calls


def main() -> None:
    """Parse the arguments and count each case (or, in the child, run one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(CASES), help=f"among {', '.join(CASES)}")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--shape", type=int, nargs="+", default=[8, 3, 8, 8])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--flag", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.calls, args.shape, args.flag)
        return
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind (with callgrind_control) is needed: install it, e.g. apt install valgrind")
    unknown = [case for case in args.cases if case not in CASES]
    if unknown:
        sys.exit(f"unknown cases {unknown}; choose among {', '.join(CASES)}")
    print(f"instructions per call, shape {tuple(args.shape)}, one thread, {args.calls} calls")
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:  # a child per core
        counted = pool.map(lambda case: count(case, args.calls, args.shape), args.cases)
        counts = dict(zip(args.cases, counted, strict=True))
    for case, instructions in counts.items():
        ratio = f"  ({instructions / counts['timm']:.2f}× timm's mixup)" if "timm" in counts else ""
        print(f"{case:10s} {instructions:10.0f}{ratio}")


if __name__ == "__main__":
    main()
