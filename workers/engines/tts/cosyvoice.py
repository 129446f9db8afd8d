"""``cosyvoice``: CosyVoice 2/3, the GPU high-quality tier (24 kHz).

Zero-shot cloning with the reference and its transcript
(``inference_zero_shot(tts_text, prompt_text, prompt_wav)``); when the reply carries an
emotion/style hint, ``inference_instruct2(tts_text, instruct_text, prompt_wav)`` speaks it
in that style. CosyVoice 3 prompt texts start with its system prefix. CosyVoice is not on
PyPI (the ``cosyvoice`` name there is an unrelated fork): it is installed from the upstream
repository in the HQ worker's own image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gpu_scheduler.registry import TTS_HQ_COSYVOICE
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.neural import NeuralCloneTTS, to_numpy

SAMPLE_RATE = 24_000
COSYVOICE3_PREFIX = "You are a helpful assistant.<|endofprompt|>"
# Style hints → CosyVoice instructions (it follows natural-language instructions).
INSTRUCTIONS = {
    "happy": "用開心愉快的語氣說", "cheerful": "用開心愉快的語氣說", "excited": "用興奮激動的語氣說",
    "sad": "用悲傷低落的語氣說", "calm": "用平靜溫和的語氣說", "serious": "用嚴肅認真的語氣說",
}


def instruction_for(style: str | None) -> str | None:
    if not style:
        return None
    return INSTRUCTIONS.get(style.lower(), style)  # free text passes through as the instruction


class CosyVoiceTTS(NeuralCloneTTS):
    name: ClassVar[str] = "cosyvoice"
    package: ClassVar[str] = "cosyvoice"
    install_hint: ClassVar[str] = (
        "install CosyVoice from https://github.com/FunAudioLLM/CosyVoice in the tts_hq worker image "
        "(its pinned requirements conflict with ours)"
    )
    model_name: ClassVar[str] = TTS_HQ_COSYVOICE
    reference_sr: ClassVar[int] = 16_000  # prompt audio: >= 16 kHz, <= 30 s
    reference_max_s: ClassVar[float] = 30.0

    def model_path(self) -> Path:
        return Path(self.settings.cosyvoice_model_dir or self.settings.resolved_models_dir / "CosyVoice2-0.5B")

    def load(self) -> Any:
        from cosyvoice.cli.cosyvoice import AutoModel

        return AutoModel(model_dir=str(self.model_path()))

    @staticmethod
    def prompt_text(model: Any, transcript: str) -> str:
        return COSYVOICE3_PREFIX + transcript if type(model).__name__ == "CosyVoice3" else transcript

    def calls(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[str, dict[str, Any]]:
        """Which generator and its arguments (kept apart from the call for testing)."""
        instruction = instruction_for(style)
        if instruction and hasattr(model, "inference_instruct2"):
            return "inference_instruct2", {
                "tts_text": sentence, "instruct_text": instruction, "prompt_wav": str(reference), "stream": False,
            }
        return "inference_zero_shot", {
            "tts_text": sentence, "prompt_text": self.prompt_text(model, voice.transcript),
            "prompt_wav": str(reference), "stream": False,
        }

    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[np.ndarray, int]:
        method, kwargs = self.calls(model, sentence, voice, reference, style)
        chunks = [to_numpy(item["tts_speech"]) for item in getattr(model, method)(**kwargs)]
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32), int(getattr(model, "sample_rate", SAMPLE_RATE))
