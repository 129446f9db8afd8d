"""Workers load their lane's models when they start (tasks/warm_up.py): real Celery workers
on the tiny profile, and the engines' warm-up with and without weights on disk."""

from __future__ import annotations

from pathlib import Path

from avatar.settings import Settings
from tests.system import System, wait_until
from workers.engines.asr.faster_whisper import FasterWhisperASR
from workers.engines.llm.openai_compat import OpenAICompatLLM
from workers.engines.llm.transformers_local import TransformersLLM


def test_llm_and_asr_workers_load_their_models_before_the_first_job(tiny_system: System) -> None:
    # The llm worker started with the fixture; no turn has been sent to this system yet.
    wait_until(lambda: "llm lane: models warmed up" in tiny_system.log("worker-llm"), 120,
               "the llm worker's warm-up")
    tiny_system.start_worker("asr", concurrency=1)
    try:
        wait_until(lambda: "asr lane: models warmed up" in tiny_system.log("worker-asr"), 120,
                   "the asr worker's warm-up")
        # Loading in the background does not hold the worker back from reporting itself up.
        tiny_system.wait_for_lanes("asr")
        assert "Timed out waiting for UP message" not in tiny_system.log("worker-asr")
    finally:
        tiny_system.stop("worker-asr")


def test_a_model_missing_on_disk_is_left_for_the_job_to_report(tmp_path: Path) -> None:
    settings = Settings(profile="tiny", models_dir=tmp_path)  # nothing generated there
    assert TransformersLLM(settings=settings).warm_up() is False
    assert FasterWhisperASR(settings=settings).warm_up() is False


def test_a_remote_llm_has_nothing_to_load() -> None:
    settings = Settings(profile="gpu", llm_base_url="http://127.0.0.1:9/v1")
    assert OpenAICompatLLM(settings=settings).warm_up() is False


def test_the_tiny_models_load_in_process(tiny_models_dir: Path) -> None:
    settings = Settings(profile="tiny", models_dir=tiny_models_dir)
    assert TransformersLLM(settings=settings).warm_up() is True
    assert FasterWhisperASR(settings=settings).warm_up() is True
