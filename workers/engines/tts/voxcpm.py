"""``voxcpm``: VoxCPM (OpenBMB), a cloned tier whose weights allow commercial use (Apache-2.0).

A tokenizer-free TTS: a MiniCPM-4 language model over text and continuous audio latents, a
local diffusion transformer that writes each latent patch and an audio VAE that decodes them.
It clones from the voice profile's reference audio and its transcript, the same contract as the
``f5`` and ``cosyvoice`` engines: the package's "prompt" (``prompt_wav_path`` + ``prompt_text``,
the generation continues the reference's voice). VoxCPM2 checkpoints (``"architecture":
"voxcpm2"`` in ``config.json``) also get the reference as ``reference_wav_path``, their
structurally isolated timbre prompt. The package reads the architecture from the folder, so
``AVATAR_VOXCPM_MODEL_DIR`` may point at VoxCPM-0.5B, VoxCPM1.5 or VoxCPM2.

Runs in the ``voxcpm`` engine environment (``avatar engines install voxcpm``: the ``voxcpm``
package with its torch/torchaudio pair), from which the lane's worker is started. It can serve
either lane (``AVATAR_TTS_FAST_ENGINE=voxcpm`` or ``AVATAR_TTS_HQ_ENGINE=voxcpm``); the VRAM
budget books it under the lane's name (:func:`model_name_for`). Local folders only: the
denoiser (ZipEnhancer, fetched from ModelScope) and the package's text normaliser are never
loaded; the speech service has already normalised the text for zh-TW (``normalize_zh``), as
for the other engines. ``torch.compile`` (the package's ``optimize``) only on CUDA.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gpu_scheduler.registry import TTS_FAST_VOXCPM, TTS_HQ_VOXCPM
from workers.engines.base import Availability
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.neural import NeuralCloneTTS

ENV_NAME = "voxcpm"
ENGINE_NAME = "voxcpm"
DEFAULT_FOLDER = "VoxCPM-0.5B"  # under models_dir when AVATAR_VOXCPM_MODEL_DIR is empty
# What VoxCPMModel.from_local / VoxCPM2Model.from_local read (each weight in either format).
REQUIRED_FILES = ("config.json", "tokenizer.json")
WEIGHT_FILES = (("model.safetensors", "pytorch_model.bin"), ("audiovae.safetensors", "audiovae.pth"))
WORKER_LANE_ENV = "AVATAR_WORKER_LANE"  # set by `avatar worker --lane ...`
HQ_LANES = ("tts_hq", "batch")


def model_name_for(settings: Any, lane: str | None = None) -> str:
    """The VRAM budget's name for this process's VoxCPM: one per lane, so a fast and an HQ
    worker that both run VoxCPM book a copy each (each process holds its own weights).

    The worker's lane (``AVATAR_WORKER_LANE``) decides; outside a worker, the HQ name when
    only the HQ tier is VoxCPM, else the fast one."""
    lane = lane if lane is not None else os.environ.get(WORKER_LANE_ENV, "")
    if lane:
        return TTS_HQ_VOXCPM if lane in HQ_LANES else TTS_FAST_VOXCPM
    only_hq = settings.tts_hq_engine == ENGINE_NAME and settings.tts_fast_engine != ENGINE_NAME
    return TTS_HQ_VOXCPM if only_hq else TTS_FAST_VOXCPM


def architecture_of(folder: Path) -> str:
    """``config.json``'s ``architecture`` (``voxcpm`` when absent, as the package reads it)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "voxcpm"
    return str(config.get("architecture", "voxcpm")).lower()


class VoxCPMTTS(NeuralCloneTTS):
    name: ClassVar[str] = ENGINE_NAME
    package: ClassVar[str] = "voxcpm"
    install_hint: ClassVar[str] = (
        f"build its engine environment: avatar engines install {ENV_NAME} "
        "(the lane's worker runs from it; its torch/torchaudio pair conflicts with ours)"
    )
    reference_sr: ClassVar[int] = 16_000  # the audio VAE encodes at 16 kHz (VoxCPM and VoxCPM2)
    reference_max_s: ClassVar[float] = 15.0  # the prompt is LM context: longer only costs time

    @property  # type: ignore[override]
    def model_name(self) -> str:  # the lane's budget name (a ClassVar in the other engines)
        return model_name_for(self.settings)

    def model_path(self) -> Path:
        s = self.settings
        return Path(s.voxcpm_model_dir) if s.voxcpm_model_dir else s.resolved_models_dir / DEFAULT_FOLDER

    def checkpoint_fix(self) -> str:
        path = self.model_path()
        if (self.settings.resolved_models_dir / "tiny") in path.parents:
            return (f"generate the tiny model: avatar models tiny (with the {ENV_NAME} environment: "
                    f"avatar engines install {ENV_NAME})")
        return (f"download openbmb/{DEFAULT_FOLDER} (or openbmb/VoxCPM2) into {path}, or point "
                "AVATAR_VOXCPM_MODEL_DIR at such a folder")

    def missing_files(self) -> list[str]:
        path = self.model_path()
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        missing += [" or ".join(pair) for pair in WEIGHT_FILES if not any((path / f).is_file() for f in pair)]
        return missing

    def availability(self) -> Availability:
        found = super().availability()
        if not found.ok:
            if "not found" in found.reason:
                return Availability(False, found.reason, self.checkpoint_fix())
            return found
        missing = self.missing_files()
        if missing:
            return Availability(False, f"the VoxCPM folder {self.model_path()} lacks {', '.join(missing)}",
                                self.checkpoint_fix())
        return Availability(True)

    def load_kwargs(self) -> dict[str, Any]:
        device = self.settings.tts_device
        return {
            "voxcpm_model_path": str(self.model_path()),
            # ZipEnhancer comes from ModelScope: never fetched, never loaded.
            "zipenhancer_model_path": None,
            "enable_denoiser": False,
            # torch.compile: the package only compiles on CUDA (and warms up with a sentence).
            "optimize": bool(self.settings.voxcpm_optimize) and device.startswith("cuda"),
            "device": device,
        }

    def load(self) -> Any:
        from voxcpm import VoxCPM

        kwargs = self.load_kwargs()
        what = f"the VoxCPM model at {kwargs['voxcpm_model_path']}"
        return self.build_or_explain(lambda: VoxCPM(**kwargs), what, self.checkpoint_fix())

    def infer_kwargs(self, model: Any, sentence: str, voice: VoiceReference, reference: Path) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {
            "text": sentence,
            "prompt_wav_path": str(reference),
            "prompt_text": voice.transcript,
            "cfg_value": s.voxcpm_cfg_value,
            "inference_timesteps": s.voxcpm_inference_timesteps,
            "max_len": s.voxcpm_max_len,
            "normalize": False,  # done already, for zh-TW (the package's is mainland-Chinese)
            "denoise": False,
            "retry_badcase": s.voxcpm_retry_badcase,
        }
        if type(getattr(model, "tts_model", None)).__name__ == "VoxCPM2Model":
            kwargs["reference_wav_path"] = str(reference)
        return kwargs

    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[np.ndarray, int]:
        import torch

        # The diffusion starts from noise: seeded, the same sentence sounds the same when
        # re-synthesised (as F5's seed=0), and a run can be repeated exactly.
        torch.manual_seed(0)
        wav = model.generate(**self.infer_kwargs(model, sentence, voice, reference))
        return np.asarray(wav, dtype=np.float32).reshape(-1), int(model.tts_model.sample_rate)
