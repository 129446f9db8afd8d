"""Writes the four provisioned Grafana dashboards (the seed's 4.1.2) as JSON.

    python docker/monitoring/grafana/build_dashboards.py [OUT_DIR]

Panels are (title, PromQL, unit); `tests/deploy/test_dashboards.py` checks that every
metric a query names is exported by AVATAR or by one of the listed exporters.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent / "dashboards"

P95 = "histogram_quantile(0.95, sum by (le) (rate({m}_bucket[5m])))"
P50 = "histogram_quantile(0.50, sum by (le) (rate({m}_bucket[5m])))"

DASHBOARDS: dict[str, tuple[str, list[tuple[str, list[str], str]]]] = {
    "overview": ("AVATAR overview", [
        ("Active sessions", ["active_sessions_count"], "none"),
        ("Sessions refused as busy (10 min)", ["avatar_waiting_sessions"], "none"),
        ("WebSocket connections", ["sum(websocket_connections_active)"], "none"),
        ("E2E latency to first audio P50 / P95",
         [P50.format(m="conversation_e2e_latency_seconds"), P95.format(m="conversation_e2e_latency_seconds")], "s"),
        ("Turns accepted / s", ["rate(avatar_turns_accepted_total[5m])"], "ops"),
        ("Errors sent to clients / s by code", ["sum by (code) (rate(avatar_socket_errors_total[5m]))"], "ops"),
        ("Queue depth per lane", ["avatar_queue_length"], "none"),
        ("Services up", ["up"], "none"),
    ]),
    "llm": ("AVATAR LLM", [
        ("TTFT P50 / P95 (accepted -> first token)",
         [P50.format(m="llm_ttft_seconds"), P95.format(m="llm_ttft_seconds")], "s"),
        ("vLLM TTFT P95", [P95.format(m="vllm:time_to_first_token_seconds")], "s"),
        ("Tokens per second (generation)", ["rate(vllm:generation_tokens_total[1m])"], "none"),
        ("KV cache usage", ["vllm:kv_cache_usage_perc"], "percentunit"),
        ("vLLM requests running / waiting", ["vllm:num_requests_running", "vllm:num_requests_waiting"], "none"),
        ("llm lane queue depth", ['avatar_queue_length{lane="llm"}'], "none"),
    ]),
    "speech": ("AVATAR speech", [
        ("ASR real-time factor P50 / P95", [P50.format(m="asr_rtf"), P95.format(m="asr_rtf")], "none"),
        ("TTS sentence latency P95 by mode",
         ["histogram_quantile(0.95, sum by (le, mode) (rate(tts_synthesis_latency_seconds_bucket[5m])))"], "s"),
        ("TTS model load time P95 by mode",
         ["histogram_quantile(0.95, sum by (le, mode) (rate(tts_model_load_seconds_bucket[30m])))"], "s"),
        ("Speech lanes queue depth", ['avatar_queue_length{lane=~"tts_fast|tts_hq|asr|batch|prosody"}'], "none"),
        ("HQ slot held", ["avatar_hq_slot_held"], "none"),
        ("HQ lock wait P95", [P95.format(m="gpu_lock_wait_seconds")], "s"),
        ("HQ breaker (0 closed, 1 half-open, 2 open)", ["gpu_breaker_state"], "none"),
    ]),
    "infrastructure": ("AVATAR infrastructure", [
        ("VRAM booked per model (scheduler)", ["sum by (model) (gpu_model_memory_mb)"], "decmbytes"),
        ("VRAM budget / booked per GPU", ["gpu_budget_mb", "gpu_used_mb"], "decmbytes"),
        ("VRAM used on the device (DCGM)", ["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"], "decmbytes"),
        ("GPU utilisation", ["DCGM_FI_DEV_GPU_UTIL"], "percent"),
        ("Model loads / evictions (1 h)",
         ["sum by (model) (increase(gpu_model_loads_total[1h]))",
          "sum by (reason) (increase(gpu_model_evictions_total[1h]))"], "none"),
        ("Model load time P95", [P95.format(m="gpu_model_load_seconds")], "s"),
        ("CPU busy", ['1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))'], "percentunit"),
        ("RAM available", ["node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"], "bytes"),
        ("Disk I/O", ["rate(node_disk_read_bytes_total[5m])", "rate(node_disk_written_bytes_total[5m])"], "Bps"),
        ("Celery tasks succeeded / s by task (Flower)", ['sum by (task) (rate(flower_events_total{type="task-succeeded"}[5m]))'], "ops"),
        ("Lane workers", ["avatar_lane_workers"], "none"),
    ]),
}


def dashboard(uid: str, title: str, panels: list[tuple[str, list[str], str]]) -> dict:
    return {
        "uid": f"avatar-{uid}",
        "title": title,
        "tags": ["avatar"],
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "panels": [
            {
                "id": i + 1,
                "type": "timeseries",
                "title": panel_title,
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + j), "expr": expr, "datasource": {"type": "prometheus", "uid": "prometheus"}}
                    for j, expr in enumerate(exprs)
                ],
            }
            for i, (panel_title, exprs, unit) in enumerate(panels)
        ],
    }


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for uid, (title, panels) in DASHBOARDS.items():
        path = out / f"{uid}.json"
        path.write_text(json.dumps(dashboard(uid, title, panels), indent=2, ensure_ascii=False) + "\n")
        print(path)


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
