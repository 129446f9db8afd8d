"""``f5``: F5-TTS, the GPU fast tier (flow matching, zero-shot cloning).

Runs in the ``f5`` engine environment (``avatar engines install f5``: f5-tts with the
torch/torchaudio pair it needs), where the tts_fast worker is started from. Local checkpoint
paths only (``AVATAR_F5_CKPT_FILE``, ``..._VOCAB_FILE``, ``..._VOCODER_DIR``): an empty
``ref_text`` would make F5-TTS download Whisper, so the reference transcript is always passed.
NFE steps are configurable (``AVATAR_F5_NFE_STEPS``, 16 by default: RTF ~0.15 published; fewer
is faster). One ``infer`` call per sentence. Checkpoints are CC-BY-NC-4.0 (non-commercial).

The architecture is ``AVATAR_F5_MODEL``: a config of the f5_tts package (``F5TTS_v1_Base``) or
a path to a ``.yaml`` config of the same form; a ``<checkpoint>.yaml`` beside the checkpoint
names its own (the tiny model under the ``tiny-gpu`` profile carries one).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gpu_scheduler.registry import TTS_FAST_F5
from workers.engines.base import Availability
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.neural import NeuralCloneTTS

SAMPLE_RATE = 24_000
SPEED_BY_STYLE = {"excited": 1.1, "happy": 1.05, "calm": 0.95, "sad": 0.9}
VOCODER_FILES = ("config.yaml", "pytorch_model.bin")  # what F5's load_vocoder reads from a local dir


def package_config_name(config: Path) -> str:
    """What ``F5TTS(model=...)`` takes for a config file outside the package: it opens
    ``f5_tts/configs/<model>.yaml``, so a file elsewhere is named by its path from there."""
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        return str(config)  # not installed: availability() says so before anything loads
    configs = Path(list(spec.submodule_search_locations)[0]) / "configs"
    return os.path.relpath(config.resolve().with_suffix(""), configs)


class F5TTSEngine(NeuralCloneTTS):
    name: ClassVar[str] = "f5"
    package: ClassVar[str] = "f5_tts"
    install_hint: ClassVar[str] = ("avatar engines install f5, then run the tts_fast worker from that "
                                   "environment (avatar up does; the GPU image has it)")
    model_name: ClassVar[str] = TTS_FAST_F5
    reference_sr: ClassVar[int] = SAMPLE_RATE
    reference_max_s: ClassVar[float] = 12.0  # F5-TTS clips longer references itself

    def _folder(self) -> Path:
        return self.settings.resolved_models_dir / "f5-tts"

    def model_path(self) -> Path:
        return Path(self.settings.f5_ckpt_file) if self.settings.f5_ckpt_file else self._folder() / "model.safetensors"

    def vocab_path(self) -> Path:
        return Path(self.settings.f5_vocab_file) if self.settings.f5_vocab_file else self._folder() / "vocab.txt"

    def vocoder_dir(self) -> Path:
        s = self.settings
        return Path(s.f5_vocoder_dir) if s.f5_vocoder_dir else s.resolved_models_dir / "vocos-mel-24khz"

    def model_config(self) -> Path | None:
        """The architecture's config file, or None for a config name of the package."""
        if self.settings.f5_model.endswith(".yaml"):
            return Path(self.settings.f5_model)
        beside = self.model_path().with_suffix(".yaml")
        return beside if beside.is_file() else None

    def _fix_for(self, path: Path) -> str:
        tiny = self.settings.resolved_models_dir / "tiny"
        if path.is_relative_to(tiny):
            return "generate the tiny models: avatar models tiny (with the f5 environment: avatar engines install f5)"
        return (f"put the F5-TTS files there (checkpoint, vocab.txt, the Vocos folder) or point "
                f"AVATAR_F5_CKPT_FILE / AVATAR_F5_VOCAB_FILE / AVATAR_F5_VOCODER_DIR at them")

    def availability(self) -> Availability:
        found = super().availability()
        if not found.ok:
            if "checkpoint" in found.reason:
                return Availability(False, found.reason, self._fix_for(self.model_path()))
            return found
        needed = [self.vocab_path(), *(self.vocoder_dir() / f for f in VOCODER_FILES)]
        if (config := self.model_config()) is not None:
            needed.append(config)
        for path in needed:
            if not path.is_file():
                return Availability(False, f"F5-TTS file not found: {path}", self._fix_for(path))
        return Availability(True)

    def load_kwargs(self) -> dict[str, Any]:
        s = self.settings
        config = self.model_config()
        return {
            "model": package_config_name(config) if config is not None else s.f5_model,
            "ckpt_file": str(self.model_path()),
            "vocab_file": str(self.vocab_path()),
            "vocoder_local_path": str(self.vocoder_dir()),
            "device": s.tts_device,
        }

    def load(self) -> Any:
        from f5_tts.api import F5TTS

        kwargs = self.load_kwargs()
        what = f"the F5-TTS model at {kwargs['ckpt_file']} (vocoder {kwargs['vocoder_local_path']})"
        return self.build_or_explain(lambda: F5TTS(**kwargs), what, self._fix_for(self.model_path()))

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
