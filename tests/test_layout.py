"""The extension point's promise: a method's whole definition is its own module.

FMix and ResizeMix were added through the extension point alone: each is one module of at most
200 lines, and the rest of the package names them only to export them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "zmix_transforms"


@pytest.mark.parametrize(
    ("module", "names"), [("fmix", ("FMix", "fmix")), ("resizemix", ("ResizeMix", "resizemix"))]
)
def test_a_method_added_through_the_extension_point_is_one_short_module(
    module: str, names: tuple[str, ...]
) -> None:
    assert len((PACKAGE / f"{module}.py").read_text().splitlines()) <= 200
    pattern = re.compile("|".join(names), re.IGNORECASE)
    elsewhere = {
        str(path.relative_to(PACKAGE)): len(pattern.findall(path.read_text()))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name not in {f"{module}.py", "__init__.py"} or path.parent != PACKAGE
    }
    assert {path: count for path, count in elsewhere.items() if count} == {}
    exports = pattern.findall((PACKAGE / "__init__.py").read_text())
    assert exports, "the method is exported"
