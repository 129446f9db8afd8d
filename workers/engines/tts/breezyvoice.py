"""``breezyvoice``: MediaTek's BreezyVoice, a Taiwanese-accent HQ variant built on the
CosyVoice v1 code (22,050 Hz). It takes the prompt as a 16 kHz tensor and skips CosyVoice's
mainland text frontend (``inference_zero_shot_no_normalize``): our zh-TW normaliser has
already written numbers and dates out. Installed in the HQ worker's own image from
MediaTek's repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from gpu_scheduler.registry import TTS_HQ_BREEZYVOICE
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.neural import NeuralCloneTTS, to_numpy

SAMPLE_RATE = 22_050


class BreezyVoiceTTS(NeuralCloneTTS):
    name: ClassVar[str] = "breezyvoice"
    package: ClassVar[str] = "cosyvoice"
    install_hint: ClassVar[str] = (
        "install BreezyVoice from https://github.com/mtkresearch/BreezyVoice in the tts_hq worker image"
    )
    model_name: ClassVar[str] = TTS_HQ_BREEZYVOICE
    reference_sr: ClassVar[int] = 16_000
    reference_max_s: ClassVar[float] = 30.0

    def model_path(self) -> Path:
        return Path(self.settings.breezyvoice_model_dir or self.settings.resolved_models_dir / "BreezyVoice")

    def load(self) -> Any:
        from cosyvoice.cli.cosyvoice import CosyVoice

        return CosyVoice(str(self.model_path()))

    @staticmethod
    def prompt_tensor(reference: Path) -> Any:
        import torch

        samples, _sr = sf.read(reference, dtype="float32", always_2d=False)  # already 16 kHz
        return torch.from_numpy(samples).unsqueeze(0)

    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[np.ndarray, int]:
        output = model.inference_zero_shot_no_normalize(sentence, voice.transcript, self.prompt_tensor(reference))
        items = output if isinstance(output, list) else list(output) if not isinstance(output, dict) else [output]
        chunks = [to_numpy(item["tts_speech"]) for item in items]
        return np.concatenate(chunks), int(getattr(model, "sample_rate", SAMPLE_RATE))
