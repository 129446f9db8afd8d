"""What the neural cloning engines (F5-TTS, CosyVoice, BreezyVoice) share: a lazily
imported package with an install hint, local checkpoints only, the reference voice and its
transcript, one model call per sentence, models loaded through the GPU's VRAM budget.

Their packages pin dependencies that conflict with ours (torchaudio, specific torch
builds), so they run in their own worker images; here each adapter reports "unavailable"
with the fix instead of failing at import time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from avatar.audio_io import resample
from avatar.chunker import split_text
from avatar.text import speakable_text
from workers.engines.base import Availability, EngineUnavailable
from workers.engines.tts.base import SynthesizedClip, TTSEngine, VoiceReference
from workers.engines.tts.gpu_host import loaded_model
from workers.gpu_guard import is_cuda_oom

UNSPEAKABLE_PAUSE_S, PAUSE_SR = 0.3, 24_000  # what a sentence with nothing to pronounce gives
NEEDS_VOICE_FIX = "上傳聲音檔並以 set_tts_mode 選用（upload a voice: POST /api/v1/voice-profiles）"
NEEDS_TRANSCRIPT_FIX = (
    "重新上傳聲音檔並附上逐字稿（re-upload the voice with its transcript, or enable the ASR engine "
    "so it is transcribed)"
)


def split_sentences(text: str) -> list[str]:
    """One model call per sentence: long inputs are cut at sentence ends (the reply worker
    already sends one sentence; previews and re-synthesis may send more)."""
    parts = [p.strip() for p in split_text(text, first_min=8, first_max=60, min_chars=8, max_chars=60)]
    return [p for p in parts if p] or [text]


def prepared_reference(voice: VoiceReference, sample_rate: int, max_s: float) -> Path:
    """The reference at ``sample_rate``, clipped to ``max_s``, as a WAV path (cached)."""
    stamp = f"{voice.audio_path}:{voice.audio_path.stat().st_mtime_ns}:{sample_rate}:{max_s}"
    digest = hashlib.sha1(stamp.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / "avatar-refs" / f"{voice.profile_id}-{digest}.wav"
    if not path.exists():
        samples, sr = sf.read(voice.audio_path, dtype="float32", always_2d=False)
        samples = resample(samples, int(sr), sample_rate)[: int(max_s * sample_rate)]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.wav")
        sf.write(tmp, samples, sample_rate, subtype="PCM_16")
        tmp.replace(path)
    return path


def to_numpy(audio: Any) -> np.ndarray:
    """A torch tensor or array of shape (N,) or (1, N) as float32 mono."""
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    return np.asarray(audio, dtype=np.float32).reshape(-1)


class NeuralCloneTTS(TTSEngine):
    package: ClassVar[str]  # the import name probed by availability()
    install_hint: ClassVar[str]
    model_name: ClassVar[str]  # the key in gpu_scheduler.registry (footprint, residency)
    reference_sr: ClassVar[int]
    reference_max_s: ClassVar[float]

    @abstractmethod
    def model_path(self) -> Path:
        """Local checkpoint (file or folder); never downloaded at run time."""

    @abstractmethod
    def load(self) -> Any:
        """Build the model object (imports the package)."""

    def build_or_explain(self, build: Callable[[], Any], what: str, fix: str) -> Any:
        """``build()`` the package's model object. CUDA out-of-memory passes through (the speech
        service's OOM path frees memory and retries); any other failure (a truncated or foreign
        file, a config the package does not validate, a state dict of another shape) becomes
        EngineUnavailable naming ``what`` did not load, with ``fix``."""
        try:
            return build()
        except Exception as exc:
            if is_cuda_oom(exc):
                raise
            raise EngineUnavailable(self.name, f"{what} does not load: {type(exc).__name__}: {exc}"[:600], fix) from exc

    @abstractmethod
    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[np.ndarray, int]:
        """One sentence → (samples, sample rate)."""

    def availability(self) -> Availability:
        if importlib.util.find_spec(self.package) is None:
            return Availability(False, f"{self.package} is not installed", self.install_hint)
        path = self.model_path()
        if not path.exists():
            return Availability(False, f"checkpoint not found at {path}", f"put the {self.name} checkpoint there")
        return Availability(True)

    def synthesize(
        self, text: str, *, voice: VoiceReference | None = None, style: str | None = None
    ) -> SynthesizedClip:
        sentences, reference = self.prepared(text, voice)
        if reference is None:
            return unspeakable_pause()
        pieces: list[np.ndarray] = []
        rate = 0
        with loaded_model(self.settings, self.model_name, self.load) as model:
            for sentence in sentences:
                samples, rate = self.infer(model, sentence, voice, reference, style)
                pieces.append(to_numpy(samples))
        return SynthesizedClip(samples=np.concatenate(pieces), sample_rate=rate)

    def prepared(self, text: str, voice: VoiceReference | None) -> tuple[list[str], Path | None]:
        """What every synthesis checks first (the engine, the voice and its transcript), then the
        sentences to speak and the reference prepared for the model (None: nothing to pronounce)."""
        availability = self.availability()
        if not availability.ok:
            raise EngineUnavailable(self.name, availability.reason, availability.fix)
        if voice is None:
            raise EngineUnavailable(self.name, "需要先選擇一個聲音檔（a voice profile is required）", NEEDS_VOICE_FIX)
        if not voice.transcript.strip():
            raise EngineUnavailable(
                self.name, "此聲音檔缺少逐字稿（this voice needs a reference transcript）", NEEDS_TRANSCRIPT_FIX
            )
        sentences = [s for s in split_sentences(text) if speakable_text(s)]
        if not sentences:
            return [], None
        return sentences, prepared_reference(voice, self.reference_sr, self.reference_max_s)


def unspeakable_pause() -> SynthesizedClip:
    """Nothing to pronounce (empty, or punctuation only): CosyVoice's LLM then yields no speech
    token and its flow fails on the empty tensor; a pause says it truly."""
    return SynthesizedClip(samples=np.zeros(int(UNSPEAKABLE_PAUSE_S * PAUSE_SR), np.float32), sample_rate=PAUSE_SR)
