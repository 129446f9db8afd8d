"""The page's component and unit tests (Vitest in jsdom), run by ``make test`` so CI counts them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.system import REPO

WEB = REPO / "web"


def test_vitest_component_tests_pass() -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the component tests run with Vitest")
    if not (WEB / "node_modules" / "vitest").is_dir():
        pytest.skip("the web packages are not installed: run `make install` (npm ci in web/)")
    result = subprocess.run(
        ["node", "node_modules/vitest/vitest.mjs", "run", "--reporter=verbose", "--color=false"],
        cwd=WEB, capture_output=True, text=True, timeout=240,
    )
    print(result.stdout[-8000:], result.stderr[-4000:], sep="\n")
    assert result.returncode == 0, f"Vitest failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
