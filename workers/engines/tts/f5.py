"""``f5``: F5-TTS, the GPU fast tier (flow matching, zero-shot cloning).

Local checkpoint paths only (``AVATAR_F5_CKPT_FILE``, ``..._VOCAB_FILE``,
``..._VOCODER_DIR``): an empty ``ref_text`` would make F5-TTS download Whisper, so the
reference transcript is always passed. NFE steps are configurable (``AVATAR_F5_NFE_STEPS``,
16 by default: RTF ~0.15 published; fewer is faster). One ``infer`` call per sentence.
Checkpoints are CC-BY-NC-4.0 (non-commercial).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gpu_scheduler.registry import TTS_FAST_F5
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.neural import NeuralCloneTTS

SAMPLE_RATE = 24_000
SPEED_BY_STYLE = {"excited": 1.1, "happy": 1.05, "calm": 0.95, "sad": 0.9}


class F5TTSEngine(NeuralCloneTTS):
    name: ClassVar[str] = "f5"
    package: ClassVar[str] = "f5_tts"
    install_hint: ClassVar[str] = "pip install 'avatar[f5]' in the GPU worker image (needs torchaudio + CUDA torch)"
    model_name: ClassVar[str] = TTS_FAST_F5
    reference_sr: ClassVar[int] = SAMPLE_RATE
    reference_max_s: ClassVar[float] = 12.0  # F5-TTS clips longer references itself

    def _folder(self) -> Path:
        return self.settings.resolved_models_dir / "f5-tts"

    def model_path(self) -> Path:
        return Path(self.settings.f5_ckpt_file) if self.settings.f5_ckpt_file else self._folder() / "model.safetensors"

    def load_kwargs(self) -> dict[str, Any]:
        s = self.settings
        return {
            "model": s.f5_model,
            "ckpt_file": str(self.model_path()),
            "vocab_file": s.f5_vocab_file or str(self._folder() / "vocab.txt"),
            "vocoder_local_path": s.f5_vocoder_dir or str(s.resolved_models_dir / "vocos-mel-24khz"),
            "device": s.tts_device,
        }

    def load(self) -> Any:
        from f5_tts.api import F5TTS

        return F5TTS(**self.load_kwargs())

    def infer_kwargs(self, sentence: str, voice: VoiceReference, reference: Path, style: str | None) -> dict[str, Any]:
        return {
            "ref_file": str(reference),
            "ref_text": voice.transcript,
            "gen_text": sentence,
            "nfe_step": self.settings.f5_nfe_steps,
            "speed": SPEED_BY_STYLE.get((style or "").lower(), 1.0),
            "seed": 0,  # the same sentence sounds the same when re-synthesised
            "show_info": lambda *_: None,
            "progress": None,
        }

    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[np.ndarray, int]:
        wav, sample_rate, _spectrogram = model.infer(**self.infer_kwargs(sentence, voice, reference, style))
        return wav, int(sample_rate)
