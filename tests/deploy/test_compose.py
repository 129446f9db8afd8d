"""The compose profiles validate with Docker Compose itself (``compose config``).

No Docker engine runs here, but the compose CLI validates and resolves a file without one.
On top of what Compose checks, each profile must be self-contained: an active service may
only depend on active services (Compose v2 refuses otherwise at ``up``), every file it
mounts or builds from exists, every worker serves a real lane, and box B of two reaches
box A's Redis, PostgreSQL and MinIO through AVATAR_MAIN_HOST.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from avatar.domain import LANES
from cli.secrets_file import COMPOSE_SECRETS, ensure_compose_env

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
PROFILES = ("single-4090", "two-box-llm", "two-box")


def _compose_cli() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.skip(
        "no Compose CLI to validate with: install the compose plugin (docker-compose-plugin) or "
        "`apt-get install docker-compose`"
    )


def compose_config(profile: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    # Only what the test gives: a developer's exported secrets must not make a test pass.
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS}
    return subprocess.run(
        [*_compose_cli(), "-p", "avatar", "-f", str(COMPOSE_FILE), *extra, "--profile", profile, "config"],
        capture_output=True, text=True, env={**clean, **env}, cwd=ROOT,
    )


def resolved(profile: str, **env: str) -> dict[str, Any]:
    secrets = {name: f"test-{name.lower()}" for name in COMPOSE_SECRETS}
    result = compose_config(profile, {**secrets, **env})
    assert result.returncode == 0, f"compose config --profile {profile} failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def active(config: dict[str, Any], profile: str) -> dict[str, dict[str, Any]]:
    # Compose v1 prints every service; v2 only the active ones. Filter the same way for both.
    return {name: svc for name, svc in config["services"].items() if profile in svc.get("profiles", [])}


@pytest.fixture(scope="module")
def configs() -> dict[str, dict[str, Any]]:
    return {p: resolved(p, AVATAR_MAIN_HOST="10.0.0.10", AVATAR_SPEECH_HOST="10.0.0.11") for p in PROFILES}


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_validates_and_is_self_contained(configs: dict[str, dict[str, Any]], profile: str) -> None:
    services = active(configs[profile], profile)
    assert services, f"profile {profile} starts nothing"
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{profile}: {name} depends on {dep}, which this profile does not start"
        for volume in svc.get("volumes", []):
            if isinstance(volume, dict) and volume.get("type") == "bind" and volume["source"].startswith(str(ROOT)):
                assert Path(volume["source"]).exists(), f"{name} mounts missing {volume['source']}"
            elif isinstance(volume, str) and volume.startswith(str(ROOT)):
                assert Path(volume.split(":")[0]).exists(), f"{name} mounts missing {volume}"
        build = svc.get("build")
        if build:
            context = Path(build["context"])
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: no Dockerfile"
        command = svc.get("command") or []
        if command[:2] == ["avatar", "worker"]:
            assert command[command.index("--lane") + 1] in LANES


def test_single_box_runs_every_lane_and_the_monitoring(configs: dict[str, dict[str, Any]]) -> None:
    services = active(configs["single-4090"], "single-4090")
    lanes = {svc["command"][3] for svc in services.values() if svc.get("command", [])[:2] == ["avatar", "worker"]}
    assert lanes == set(LANES)
    assert {"vllm", "prometheus", "grafana", "flower", "nginx", "minio-init", "postgres", "redis"} <= set(services)
    vllm = services["vllm"]["command"]
    assert vllm[vllm.index("--gpu-memory-utilization") + 1] == "0.55" and "--quantization" not in vllm


def test_two_boxes_split_llm_and_speech(configs: dict[str, dict[str, Any]]) -> None:
    box_a = active(configs["two-box-llm"], "two-box-llm")
    box_b = active(configs["two-box"], "two-box")
    lanes_b = {svc["command"][3] for svc in box_b.values() if svc.get("command", [])[:2] == ["avatar", "worker"]}
    lanes_a = {svc["command"][3] for svc in box_a.values() if svc.get("command", [])[:2] == ["avatar", "worker"]}
    assert lanes_b == {"asr", "tts_fast", "tts_hq", "batch", "batch_fast"} and lanes_a | lanes_b == set(LANES)
    assert not {"redis", "postgres", "minio"} & set(box_b)
    vllm = box_a["vllm-llm-box"]["command"]
    assert vllm[vllm.index("--gpu-memory-utilization") + 1] == "0.90"
    for svc in (s for s in box_b.values() if s.get("command", [])[:2] == ["avatar", "worker"]):
        env = svc["environment"]
        assert env["AVATAR_REDIS_URL"] == "redis://10.0.0.10:6379/0"
        assert "@10.0.0.10:5432/" in env["AVATAR_DATABASE_URL"] and env["AVATAR_MINIO_ENDPOINT"] == "10.0.0.10:9000"
        assert env["AVATAR_GPU_PRESET"] == "two-box-speech"
    hq = box_b["speech-tts-hq"]
    assert hq["build"]["args"]["HQ_VARIANT"] == "cosyvoice" and hq["environment"]["AVATAR_TTS_HQ_ENGINE"] == "cosyvoice"


def test_breezyvoice_variant_builds_from_its_own_image() -> None:
    config = resolved("single-4090", AVATAR_HQ_VARIANT="breezyvoice")
    hq = config["services"]["worker-tts-hq"]
    assert hq["build"]["args"]["HQ_VARIANT"] == "breezyvoice" and hq["image"] == "avatar-breezyvoice:latest"
    assert hq["environment"]["AVATAR_TTS_HQ_ENGINE"] == "breezyvoice"
    assert "mtkresearch/BreezyVoice" in (ROOT / "docker" / "hq" / "Dockerfile").read_text()


@pytest.mark.parametrize("missing", COMPOSE_SECRETS)
def test_no_secret_has_a_working_default(missing: str) -> None:
    """Compose refuses to start while any secret is unset, and says how to make them."""
    env = {name: f"test-{name.lower()}" for name in COMPOSE_SECRETS if name != missing}
    result = compose_config("single-4090", env)
    assert result.returncode != 0
    assert missing in result.stderr and "avatar secrets --compose docker/.env" in result.stderr


def test_generated_compose_env_file_is_accepted_and_kept(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("AVATAR_PUBLIC_BASE_URL=https://voice.example\nPOSTGRES_PASSWORD=mine\n")
    made = ensure_compose_env(env_file)
    assert set(made) == set(COMPOSE_SECRETS) - {"POSTGRES_PASSWORD"}  # the operator's own value stays
    assert all(len(value) >= 40 for value in made.values())
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert ensure_compose_env(env_file) == {}  # a second run changes nothing
    result = compose_config("single-4090", {}, "--env-file", str(env_file))
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    api = services["api"]["environment"]
    assert api["AVATAR_SECRET_KEY"] == made["AVATAR_SECRET_KEY"]
    assert api["AVATAR_OPERATOR_TOKEN"] == made["AVATAR_OPERATOR_TOKEN"]
    assert "mine@" in api["AVATAR_DATABASE_URL"] and api["AVATAR_PUBLIC_BASE_URL"] == "https://voice.example"
