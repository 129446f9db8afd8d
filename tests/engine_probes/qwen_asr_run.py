"""Runs :mod:`tests.engine_probes.qwen_asr_probe` with the qwen-asr engine environment's python."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_qwen_asr_probe(python: Path, cases: list[dict[str, Any]], *, env: dict[str, str] | None = None,
                       timeout: float = 600) -> dict[str, dict[str, Any]]:
    """Each case's result by name (one process: a model folder loads once)."""
    with tempfile.TemporaryDirectory(prefix="qwen-asr-probe-") as tmp:
        out = Path(tmp) / "out.json"
        done = subprocess.run(
            [str(python), "-m", "tests.engine_probes.qwen_asr_probe", str(out)],
            input=json.dumps(cases), cwd=REPO, capture_output=True, text=True, timeout=timeout,
            # No hub access: a load that would fetch anything fails loudly.
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})},
        )
        if done.returncode != 0 or not out.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-40:])
            pytest.fail(f"the qwen-asr probe failed (exit {done.returncode}):\n{tail}", pytrace=False)
        return {r["name"]: r for r in json.loads(out.read_text())}
