"""Every Grafana dashboard query names a metric that something really exports.

AVATAR's own metrics come from ``avatar.metrics`` (the registry the API and the workers
serve). The infrastructure panels also read the exporters Prometheus scrapes beside it;
their metric families are listed here with where they come from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from avatar.metrics import exported_metric_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "docker" / "monitoring" / "grafana" / "dashboards"

# Exporters beside AVATAR (docker/monitoring/prometheus.yml), by metric-name prefix.
EXTERNAL = {
    "vllm:": "vLLM's /metrics (docs.vllm.ai, Production Metrics)",
    "node_": "prom/node-exporter",
    "DCGM_FI_": "NVIDIA dcgm-exporter",
    "flower_": "Flower's /metrics",
}
BUILTIN = {"up"}  # Prometheus's own per-target series

PROMQL_WORDS = {
    "sum", "rate", "increase", "histogram_quantile", "by", "avg", "max", "min", "le", "without",
    "irate", "count", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r"by \([^)]*\)", "", expr)  # grouping labels
    return {w for w in IDENT.findall(expr) if w not in PROMQL_WORDS and not re.fullmatch(r"[0-9.]+", w)}


def queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found.append((path.stem, panel["title"], target["expr"]))
    return found


def test_the_seeds_four_dashboards_exist_and_match_their_generator(tmp_path: Path) -> None:
    assert {p.stem for p in DASHBOARDS.glob("*.json")} == {"overview", "llm", "speech", "infrastructure"}
    subprocess.run([sys.executable, str(DASHBOARDS.parent / "build_dashboards.py"), str(tmp_path)],
                   check=True, capture_output=True)
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    assert fresh == {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}, (
        "dashboards are stale: run python docker/monitoring/grafana/build_dashboards.py"
    )


@pytest.mark.parametrize("dashboard,title,expr", queries())
def test_every_query_names_an_exported_metric(dashboard: str, title: str, expr: str) -> None:
    ours = exported_metric_names()
    names = metric_names(expr)
    assert names, f"{dashboard}/{title}: no metric in {expr!r}"
    for name in names:
        assert name in ours or name in BUILTIN or any(name.startswith(p) for p in EXTERNAL), (
            f"{dashboard}/{title}: {name!r} is exported by nothing we run"
        )


def test_the_seeds_metric_names_are_exported() -> None:
    seed = {
        "llm_ttft_seconds", "asr_rtf", "tts_synthesis_latency_seconds", "tts_model_load_seconds",
        "conversation_e2e_latency_seconds", "active_sessions_count", "websocket_connections_active",
    }
    assert seed <= exported_metric_names()


def test_the_checker_rejects_a_made_up_metric() -> None:
    assert metric_names('sum by (le) (rate(made_up_seconds_bucket{mode="x"}[5m]))') == {"made_up_seconds_bucket"}
    assert "made_up_seconds_bucket" not in exported_metric_names()
