"""Check a built site for anything it would load from the network: scripts, stylesheets, fonts.

    python scripts/check_offline_site.py site

Exits with status 1, listing each page and address, if a page loads a script, stylesheet, image or
font from another host, or a stylesheet imports one; also if no page loads the vendored MathJax.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)["']""", re.IGNORECASE)
TAG = re.compile(r"<(script|link|img|iframe|source)\b[^>]*>", re.IGNORECASE)
CSS_REMOTE = re.compile(r"""(?:@import|url\()\s*["']?((?:https?:)?//[^"')]+)""", re.IGNORECASE)


def remote_loads(site: Path) -> list[str]:
    found = []
    for page in sorted(site.rglob("*.html")):
        for tag in TAG.finditer(page.read_text(encoding="utf-8", errors="replace")):
            if tag.group(1).lower() == "link" and not re.search(
                r"rel=[\"']?(stylesheet|preload|icon)", tag.group(0)
            ):
                continue  # links to other pages are not loads
            found += [f"{page.relative_to(site)}: {url}" for url in REMOTE.findall(tag.group(0))]
    for sheet in sorted(site.rglob("*.css")):
        found += [
            f"{sheet.relative_to(site)}: {url}"
            for url in CSS_REMOTE.findall(sheet.read_text(errors="replace"))
        ]
    return found


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "site")
    problems = remote_loads(site)
    if not any("vendor/mathjax/tex-mml-chtml.js" in page.read_text() for page in site.rglob("*.html")):
        problems.append("no page loads the vendored MathJax (scripts/vendor_mathjax.py)")
    for problem in problems:
        print(problem)
    print(
        f"{len(problems)} network load(s) in {site}"
        if problems
        else f"{site}: nothing loaded from the network"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
