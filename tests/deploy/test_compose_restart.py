"""Under Compose, Docker is the supervisor: every long-running service comes back after a
crash (``restart: unless-stopped``), and only the one-shot jobs run once (``restart: "no"``).

Read from the file itself (YAML merge keys resolved), so it runs without the Compose CLI.
"""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker" / "docker-compose.yml"
ONE_SHOT = {"minio-init", "migrate", "models-pull"}  # they finish; a restart would rerun them


def test_every_long_running_service_restarts_after_a_crash() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    assert ONE_SHOT <= set(services)
    policies = {name: str(service.get("restart")) for name, service in services.items()}
    assert {name: p for name, p in policies.items() if name in ONE_SHOT} == dict.fromkeys(ONE_SHOT, "no")
    long_running = {name: p for name, p in policies.items() if name not in ONE_SHOT}
    assert {name: p for name, p in long_running.items() if p not in ("unless-stopped", "always")} == {}
