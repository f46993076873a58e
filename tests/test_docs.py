"""Every public name has its API page (a ``:::`` line) and a place in the site's navigation."""

from __future__ import annotations

import ast
from pathlib import Path

import zmix_transforms
from zmix_transforms import functional

ROOT = Path(__file__).resolve().parent.parent


def _public_pages() -> dict[str, str]:
    pages = {
        name: f"zmix_transforms.{name}"
        for name in zmix_transforms.__all__
        if name not in {"functional", "__version__"}
    }
    pages.update({f"functional.{name}": f"zmix_transforms.functional.{name}" for name in functional.__all__})
    # the optional integrations' modules (read from their source: their framework may be absent)
    for module in ("huggingface",):
        source = (ROOT / "zmix_transforms" / f"{module}.py").read_text()
        names = ast.literal_eval(source.split("__all__ = ", 1)[1].split("\n", 1)[0])
        pages.update({f"{module}.{name}": f"zmix_transforms.{module}.{name}" for name in names})
    return pages


def test_every_public_name_has_an_api_page_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page, target in _public_pages().items():
        path = ROOT / "docs" / "api" / f"{page}.md"
        assert path.exists(), f"missing {path}"
        assert f"::: {target}\n" in path.read_text()
        assert f"api/{page}.md" in nav, f"{page} is not in the mkdocs nav"


def test_no_api_page_for_a_name_that_is_gone() -> None:
    pages = {path.stem for path in (ROOT / "docs" / "api").glob("*.md")}
    assert pages == set(_public_pages())
