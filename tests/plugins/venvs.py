"""Throwaway virtual environments with plugin distributions really ``pip install``-ed.

The environment has no pip and no packages of its own: a ``.pth`` file adds this
interpreter's site-packages (unfreeze-core and its dependencies) behind its own, so the
install is offline and takes a few seconds, while the plugins exist only there. Each
distribution is built from a copy of its source folder (a build writes ``build/`` and
``*.egg-info/``). Used by ``test_installed.py`` (the example plugins) and
``test_hostile.py`` (plugins that misbehave on purpose).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CLI = "import sys; from unfreeze_core.cli import main; main(prog_name='unfreeze')"


class Venv:
    """A virtual environment, and the copies of the sources installed into it."""

    def __init__(self, root: Path, sources: Path) -> None:
        self.root = root
        self.sources = sources
        self.python = str(root / "bin" / "python")

    def run(self, *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the venv's Python with ``args``; ``UNFREEZE_*`` variables only from ``env``."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("UNFREEZE_")}
        clean.update(TF_CPP_MIN_LOG_LEVEL="2", COLUMNS="200", **(env or {}))
        result = subprocess.run([self.python, *args], capture_output=True, text=True,
                                env=clean, cwd=cwd, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"{args[:2]} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def script(self, code: str, env: Mapping[str, str] | None = None) -> Any:
        """Run ``code`` in the venv; it prints one JSON document, returned parsed."""
        return json.loads(self.run("-c", textwrap.dedent(code), env=env).stdout)

    def cli(self, *args: str, env: Mapping[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run ``unfreeze ARGS`` in the venv, whatever its exit status."""
        return self.run("-c", CLI, *args, env=env, check=False)


def build_venv(base: Path, distributions: Mapping[str, Path]) -> Venv:
    """A fresh venv under ``base`` with each distribution (name -> source folder)
    built and installed, offline."""
    sources = base / "src"
    for name, folder in distributions.items():
        shutil.copytree(folder, sources / name,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    root = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    purelib = subprocess.run(
        [str(root / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_unfreeze_test_parent.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    )
    venv = Venv(root, sources)
    result = venv.run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                      "--no-index", "--ignore-installed",
                      *(str(sources / name) for name in distributions), check=False)
    assert result.returncode == 0, (
        "pip could not build and install the plugins offline; the test environment "
        "needs pip and setuptools >= 61 (with setuptools < 70.1 also wheel):\n"
        + result.stdout + result.stderr
    )
    return venv
