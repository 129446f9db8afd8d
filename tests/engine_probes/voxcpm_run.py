"""Runs :mod:`tests.engine_probes.voxcpm_probe` with the voxcpm engine environment's python."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_voxcpm_probe(python: Path, command: str, cases: list[dict[str, Any]] | None = None, *,
                     env: dict[str, str] | None = None, timeout: float = 600) -> Any:
    with tempfile.TemporaryDirectory(prefix="voxcpm-probe-") as tmp:
        out = Path(tmp) / "out.json"
        done = subprocess.run(
            [str(python), "-m", "tests.engine_probes.voxcpm_probe", command, str(out)],
            input=json.dumps(cases or []), cwd=REPO, capture_output=True, text=True, timeout=timeout,
            # No Hugging Face access: a call that would fetch anything fails loudly (the engine
            # never calls ModelScope: no denoiser, no ASR).
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})},
        )
        if done.returncode != 0 or not out.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
            pytest.fail(f"the voxcpm probe {command!r} failed (exit {done.returncode}):\n{tail}", pytrace=False)
        return json.loads(out.read_text())
