"""Check the built sdist and wheel, then install the wheel into a clean venv and run the README's usage block.

    python scripts/check_dist.py dist

The wheel must hold every module of the package, ``py.typed`` and the license; the sdist the
license, README and tests. The clean venv gets the wheel, with no index: pip resolves its
dependencies there against the ones installed beside this script (a view of their folder, less this
package; a second copy of torch would cost about 5 GB of disk and a minute). It then runs the
README's usage block from a folder outside the repository, asserting it imported the installed
package.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check_contents(dist: Path) -> Path:
    wheel = next(dist.glob("zmix_transforms-*.whl"))
    sdist = next(dist.glob("zmix_transforms-*.tar.gz"))
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "zmix_transforms").rglob("*.py")}
    missing = sorted(modules - names)
    assert not missing, f"the wheel lacks {missing}"
    assert "zmix_transforms/py.typed" in names, "the wheel lacks py.typed"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel lacks the license"
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and "License-File: LICENSE" in text, "license metadata"
    with tarfile.open(sdist) as archive:
        sdist_names = archive.getnames()
    for required in ("LICENSE", "README.md", "pyproject.toml", "zmix_transforms/py.typed"):
        assert any(n.endswith("/" + required) for n in sdist_names), f"the sdist lacks {required}"
    print(f"{wheel.name} and {sdist.name}: contents and metadata as expected")
    return wheel


def run_usage_block(wheel: Path) -> None:
    code = re.search(
        r"<!-- usage: a test runs this block as written -->\n```python\n(.*?)```",
        (ROOT / "README.md").read_text(),
        re.DOTALL,
    )
    assert code is not None, "the README lost its usage block"
    with tempfile.TemporaryDirectory() as scratch:
        env_dir = Path(scratch) / "venv"
        venv.create(env_dir)  # no pip, nor its setuptools, of its own: this pip installs
        python = env_dir / "bin" / "python"
        # the dependencies: links to what this Python has installed, but this package (its
        # editable install included), on the clean venv's path after its own site-packages
        installed, deps = Path(sysconfig.get_paths()["purelib"]), Path(scratch) / "deps"
        deps.mkdir()
        for entry in installed.iterdir():
            if not entry.name.startswith(("zmix_transforms", "__editable__")):
                (deps / entry.name).symlink_to(entry)
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (Path(site) / "dependencies.pth").write_text(f"{deps}\n")
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index"]
        subprocess.run([*pip, str(wheel)], check=True)
        check = code.group(1) + (
            "\nimport zmix_transforms\n"
            f"assert zmix_transforms.__file__.startswith({str(env_dir)!r}), zmix_transforms.__file__\n"
            "assert labels.shape == (16, 10) and images.dtype == torch.uint8\n"
            "print('README usage block ran against the installed wheel')\n"
        )
        subprocess.run([python, "-c", check], check=True, cwd=scratch)


def main(argv: list[str]) -> int:
    dist = Path(argv[0] if argv else "dist")
    run_usage_block(check_contents(dist))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
