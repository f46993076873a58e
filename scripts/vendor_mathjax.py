"""Put MathJax and iframe-worker into the docs at build time, from the npm registry, so the site needs no CDN.

    python scripts/vendor_mathjax.py          # docs/javascripts/vendor/ (ignored by git)

Takes ``mathjax@3.2.2`` with ``npm pack`` and keeps what the site loads: the ``tex-mml-chtml``
component and its CHTML fonts, in the layout MathJax expects next to its script. Takes
``iframe-worker@1.0.4``'s shim, which Material's offline plugin needs for search on a site opened
from disk (the plugin would load it from unpkg; mkdocs.yml names this copy instead). Does nothing
for what is already there.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.2.2"
ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "javascripts" / "vendor" / "mathjax"
KEEP = ("package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/")


SHIM_VERSION = "1.0.4"
SHIM = ROOT / "docs" / "javascripts" / "vendor" / "iframe-worker" / "shim.js"


def _npm_pack(package: str, version: str, scratch: str) -> Path:
    """``npm pack package@version`` into ``scratch``; the tarball's path."""
    subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--silent", "--pack-destination", scratch],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(Path(scratch).glob(f"{package}-*.tgz"))


def vendor_shim() -> Path:
    """iframe-worker's shim (one self-contained script) for Material's offline search."""
    if SHIM.exists():
        return SHIM
    with (
        tempfile.TemporaryDirectory() as scratch,
        tarfile.open(_npm_pack("iframe-worker", SHIM_VERSION, scratch)) as tar,
    ):
        source = tar.extractfile("package/shim/index.js")
        assert source is not None
        SHIM.parent.mkdir(parents=True, exist_ok=True)
        SHIM.write_bytes(source.read())
    print(f"iframe-worker {SHIM_VERSION} in {SHIM.relative_to(ROOT)}", file=sys.stderr)
    return SHIM


def main() -> Path:
    vendor_shim()
    if (TARGET / "tex-mml-chtml.js").exists():
        return TARGET
    with (
        tempfile.TemporaryDirectory() as scratch,
        tarfile.open(_npm_pack("mathjax", VERSION, scratch)) as tar,
    ):
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(KEEP):
                relative = Path(member.name).relative_to("package/es5")
                (TARGET / relative).parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                (TARGET / relative).write_bytes(source.read())
    print(f"MathJax {VERSION} in {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return TARGET


if __name__ == "__main__":
    main()
