"""Every Python block of the user pages runs as written, alone (a fresh namespace per block).

The migration page has its own test (tests/test_migration.py), which also checks what its blocks
compute. Blocks that start a process group run as one rank of one, as ``torchrun`` would set it up.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if p.name != "migration.md" and "assets" not in p.parts)
BLOCKS = [
    pytest.param(code, id=f"{page.relative_to(DOCS)}:{number}")
    for page in PAGES
    for number, code in enumerate(re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M), 1)
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_user_pages_have_code() -> None:
    pages = {block.id.split(":")[0] for block in BLOCKS}
    assert {
        "index.md",
        "getting-started.md",
        "options.md",
        "volumes.md",
        "distributed.md",
        "frameworks.md",
    } <= pages


OPTIONAL = ("transformers", "accelerate", "lightning", "monai")  # blocks that need an extra


@pytest.mark.parametrize("code", BLOCKS)
def test_block_runs_as_written(code: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for package in OPTIONAL:
        if re.search(rf"^(import|from) {package}\b", code, re.M) or (
            package == "accelerate" and "TrainingArguments" in code
        ):
            pytest.importorskip(package)
    monkeypatch.chdir(tmp_path)
    if "init_process_group" in code:  # what torchrun sets: one rank of one, on this machine only
        for key, value in {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
            "RANK": "0",
            "LOCAL_RANK": "0",
            "WORLD_SIZE": "1",
        }.items():
            monkeypatch.setenv(key, value)
    exec(compile(code, "docs block", "exec"), {"__name__": "__docs__"})
