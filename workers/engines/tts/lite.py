"""``lite``: the CPU, weight-free cloned voice (the fast tier wherever no GPU is present).

espeak-ng speaks Mandarin; the result is then adapted toward the reference voice:

1. **Voice choice** (once per reference, analysis by synthesis): each espeak-ng voice
   variant speaks a calibration sentence, goes through steps 2-3, and the one whose
   resemblyzer embedding is closest to the reference's wins.
2. **Praat "Change gender"** (PSOLA, through parselmouth): formant shift ratio (the
   reference's F1-F3 over the variant's), pitch median set to the reference's, pitch range
   scaled by the reference's range over the variant's: an expressive sample (wide range)
   gives an expressive clone, a flat one a flat clone.
3. **Timbre equaliser**: the difference between the reference's long-term average spectrum
   and the synthetic voice's, smoothed, applied as a linear-phase filter.
4. **Energy dynamics**: the loud/soft contrast of the clip is scaled to the reference's.

``lite_hq`` is the same engine at its highest-quality settings (pitch and equaliser fitted
per sentence, 24 kHz output). Tests and CPU-only machines use it for the HQ lane, labelled as such:
CosyVoice cannot run here.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from avatar.audio_io import frame_energy_db, resample
from avatar.settings import Settings
from workers.engines.base import Availability, EngineUnavailable, TransientEngineError
from workers.engines.tts.base import SynthesizedClip, TTSEngine, VoiceReference
from workers.voice_analysis import (
    ltas_db,
    mean_formants,
    prosody_profile,
    speaker_embedding,
    speaker_similarity,
    to_semitones,
    voiced_f0,
)

INSTALL_HINT = "apt-get install espeak-ng; pip install praat-parselmouth resemblyzer"
CALIBRATION_TEXT = "今天天氣很好，我們一起去公園散步吧。"
ESPEAK_SR = 22_050
N_BANDS = 128
# Candidate espeak-ng voice variants (timbres) for the voice choice.
VARIANTS: tuple[str, ...] = ("", "m1", "m3", "m7", "f1", "f2", "f3", "f4")
# Style hints (from the reply or a preview) scale the pitch range and the rate.
STYLE_RANGE = {"excited": 1.35, "happy": 1.25, "cheerful": 1.25, "calm": 0.8, "sad": 0.7, "serious": 0.85}
STYLE_RATE = {"excited": 1.1, "happy": 1.05, "cheerful": 1.05, "calm": 0.92, "sad": 0.88, "serious": 0.95}


@dataclass(frozen=True)
class LiteAdaptation:
    """How to turn espeak-ng into this reference voice (stored with the voice profile)."""

    variant: str
    formant_ratio: float
    f0_median_hz: float  # the reference's
    f0_range_st: float  # the reference's
    energy_sd_db: float  # the reference's
    source_f0_range_st: float  # the chosen variant's own range (for the fast path)
    source_f0_median_hz: float = 0.0  # the chosen variant's own median (for the fast path)
    eq_db: list[float] = field(default_factory=list)
    reference_ltas_db: list[float] = field(default_factory=list)  # for the per-clip equaliser
    similarity: float = 0.0  # calibration score (resemblyzer cosine)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiteAdaptation:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def espeak(text: str, *, variant: str = "", voice: str = "cmn", words_per_minute: int = 190) -> np.ndarray:
    """Plain espeak-ng Mandarin at 22,050 Hz (text through stdin: never read as options)."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise EngineUnavailable("lite", "espeak-ng is not installed", INSTALL_HINT)
    name = f"{voice}+{variant}" if variant else voice
    try:
        proc = subprocess.run(
            [binary, "-v", name, "-s", str(words_per_minute), "--stdout", "--stdin"],
            input=text.encode("utf-8"), capture_output=True, timeout=30,
        )
    except subprocess.TimeoutExpired as exc:
        raise TransientEngineError("espeak-ng timed out") from exc
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(f"espeak-ng failed: {proc.stderr.decode(errors='replace')[:300]}")
    samples, _sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=False)
    return samples


def _range_st(samples: np.ndarray, sr: int) -> tuple[float, float]:
    f0 = voiced_f0(samples, sr)
    if len(f0) < 5:
        return 0.0, 0.0
    st = to_semitones(f0)
    return float(np.median(f0)), float(np.percentile(st, 90) - np.percentile(st, 10))


def change_voice(samples: np.ndarray, sr: int, *, source_median: float, source_range: float,
                 target_median: float, target_range: float, formant_ratio: float,
                 duration_factor: float = 1.0) -> np.ndarray:
    """Praat's "Change gender": pitch median and range toward the target, formants shifted."""
    import parselmouth
    from parselmouth.praat import call

    if source_median <= 0 or target_median <= 0:
        return samples
    # PSOLA stays clean up to about 2.5x the range; beyond, pitch marks break down.
    range_factor = float(np.clip(target_range / source_range, 0.3, 2.5)) if source_range > 0 else 1.0
    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sr)
    floor, ceiling = max(50.0, source_median / 2.0), min(800.0, source_median * 2.5)
    out = call(sound, "Change gender", floor, ceiling, float(formant_ratio), float(target_median),
               range_factor, float(duration_factor))
    return np.asarray(out.values[0], dtype=np.float32)


def apply_eq(samples: np.ndarray, eq_db: list[float], sr: int = ESPEAK_SR) -> np.ndarray:
    """A zero-phase filter whose gain follows ``eq_db`` (bands from 0 to espeak-ng's Nyquist,
    11,025 Hz, whatever rate ``samples`` are at)."""
    if not eq_db:
        return samples
    from scipy.fft import irfft, next_fast_len, rfft

    n = len(samples)
    spectrum = rfft(samples, n=next_fast_len(n + 1024, real=True))
    gains = np.interp(np.linspace(0, sr / 2, len(spectrum)), np.linspace(0, ESPEAK_SR / 2, len(eq_db)),
                      10 ** (np.asarray(eq_db) / 20))
    return irfft(spectrum * gains)[:n].astype(np.float32)


def eq_toward(reference_ltas: np.ndarray, samples: np.ndarray, sr: int, *, max_db: float = 15.0) -> list[float]:
    diff = reference_ltas - ltas_db(samples, sr, N_BANDS)
    kernel = np.ones(9) / 9.0
    smooth = np.convolve(np.pad(diff, 4, mode="edge"), kernel, mode="valid")
    smooth -= np.median(smooth)
    return [round(float(v), 2) for v in np.clip(smooth, -max_db, max_db)]


def shape_dynamics(samples: np.ndarray, sr: int, target_sd_db: float) -> np.ndarray:
    """Scale the spread of the speech frames' energy (dB) toward the reference's."""
    frame = int(sr * 0.025)
    energy = frame_energy_db(samples, sr, 0.025)
    if len(energy) < 4 or target_sd_db <= 0:
        return samples
    active = energy > energy.max() - 40.0
    sd = float(np.std(energy[active]))
    if sd <= 0.5:
        return samples
    k = float(np.clip(target_sd_db / sd, 0.6, 1.6))
    mean = float(np.mean(energy[active]))
    gain_db = np.where(active, (energy - mean) * (k - 1.0), 0.0)
    gain_db = np.convolve(gain_db, np.ones(5) / 5.0, mode="same")  # no zipper noise
    centres = np.arange(len(energy)) * frame + frame // 2
    per_sample = np.interp(np.arange(len(samples)), centres, gain_db)
    return (samples * 10 ** (per_sample / 20.0)).astype(np.float32)


def peak_normalise(samples: np.ndarray, peak: float = 0.9) -> np.ndarray:
    top = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return samples if top <= 0 else (samples * (peak / top)).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _calibration(variant: str, voice: str, words_per_minute: int) -> tuple[np.ndarray, float, float, np.ndarray]:
    """A variant's calibration sentence and its pitch and formants (the same for every
    reference: measured once per process)."""
    source = espeak(CALIBRATION_TEXT, variant=variant, voice=voice, words_per_minute=words_per_minute)
    median, spread = _range_st(source, ESPEAK_SR)
    return source, median, spread, mean_formants(source, ESPEAK_SR)


def fit_adaptation(reference: np.ndarray, sr: int, *, voice: str = "cmn", words_per_minute: int = 190) -> LiteAdaptation:
    """Choose and tune the espeak-ng variant for a reference (analysis by synthesis)."""
    reference = resample(reference, sr, ESPEAK_SR)
    target = prosody_profile(reference, ESPEAK_SR)
    ref_ltas = ltas_db(reference, ESPEAK_SR, N_BANDS)
    ref_formants = mean_formants(reference, ESPEAK_SR)
    ref_embedding = speaker_embedding(reference, ESPEAK_SR)
    best: LiteAdaptation | None = None
    for variant in VARIANTS:
        source, median, spread, source_formants = _calibration(variant, voice, words_per_minute)
        ratio = float(np.nanmean(ref_formants / source_formants))
        ratio = float(np.clip(ratio if np.isfinite(ratio) else 1.0, 0.85, 1.2))
        shaped = change_voice(source, ESPEAK_SR, source_median=median, source_range=spread,
                              target_median=target.f0_median_hz, target_range=target.f0_range_st,
                              formant_ratio=ratio)
        eq = eq_toward(ref_ltas, shaped, ESPEAK_SR)
        clip = shape_dynamics(apply_eq(shaped, eq), ESPEAK_SR, target.energy_sd_db)
        score = speaker_similarity(speaker_embedding(peak_normalise(clip), ESPEAK_SR), ref_embedding)
        if best is None or score > best.similarity:
            best = LiteAdaptation(
                variant=variant, formant_ratio=round(ratio, 4), f0_median_hz=target.f0_median_hz,
                f0_range_st=target.f0_range_st, energy_sd_db=target.energy_sd_db,
                source_f0_range_st=spread, source_f0_median_hz=median, eq_db=eq, similarity=round(score, 4),
                reference_ltas_db=[round(float(v), 2) for v in ref_ltas],
            )
    assert best is not None
    return best


class LiteCloneTTS(TTSEngine):
    name: ClassVar[str] = "lite"
    # Fast path: the variant's pitch and the equaliser measured once per voice (espeak-ng
    # keeps a variant's pitch level and range from sentence to sentence); processed and
    # delivered at 16 kHz (wideband speech; PSOLA's cost grows with the sample count).
    per_clip_eq: ClassVar[bool] = False
    work_sr: ClassVar[int] = 16_000
    output_sr: ClassVar[int] = 16_000

    def __init__(self, *, settings: Settings) -> None:
        super().__init__(settings=settings)
        self._adaptations: dict[str, LiteAdaptation] = {}
        self._lock = threading.Lock()

    def availability(self) -> Availability:
        if shutil.which("espeak-ng") is None:
            return Availability(False, "espeak-ng is not installed", INSTALL_HINT)
        try:
            import parselmouth  # noqa: F401
        except ImportError:
            return Availability(False, "praat-parselmouth is not installed", INSTALL_HINT)
        return Availability(True)

    def adaptation_for(self, voice: VoiceReference) -> LiteAdaptation:
        """The voice profile's stored adaptation, else fitted once per process."""
        stored = (voice.adaptation or {}).get("lite")
        if stored:
            return LiteAdaptation.from_dict(stored)
        key = f"{voice.profile_id}:{voice.audio_path}"
        with self._lock:
            if key not in self._adaptations:
                samples, sr = sf.read(voice.audio_path, dtype="float32", always_2d=False)
                self._adaptations[key] = fit_adaptation(
                    samples, int(sr), voice=self.settings.espeak_voice,
                    words_per_minute=self.settings.espeak_words_per_minute,
                )
            return self._adaptations[key]

    def synthesize(
        self, text: str, *, voice: VoiceReference | None = None, style: str | None = None
    ) -> SynthesizedClip:
        rate = STYLE_RATE.get((style or "").lower(), 1.0)
        wpm = int(self.settings.espeak_words_per_minute * rate)
        if voice is None:  # no reference: plain espeak-ng
            samples = espeak(text, voice=self.settings.espeak_voice, words_per_minute=wpm)
            return SynthesizedClip(samples=peak_normalise(samples), sample_rate=ESPEAK_SR)
        try:
            import parselmouth  # noqa: F401
        except ImportError as exc:
            raise EngineUnavailable(self.name, "praat-parselmouth is not installed", INSTALL_HINT) from exc
        fit = self.adaptation_for(voice)
        source = espeak(text, variant=fit.variant, voice=self.settings.espeak_voice, words_per_minute=wpm)
        if self.per_clip_eq or fit.source_f0_median_hz <= 0:
            median, spread = _range_st(source, ESPEAK_SR)
        else:
            median, spread = fit.source_f0_median_hz, fit.source_f0_range_st
        rate = self.work_sr
        source = resample(source, ESPEAK_SR, rate)
        target_range = fit.f0_range_st * STYLE_RANGE.get((style or "").lower(), 1.0)
        shaped = change_voice(source, rate, source_median=median, source_range=spread,
                              target_median=fit.f0_median_hz, target_range=target_range,
                              formant_ratio=fit.formant_ratio)
        eq = fit.eq_db
        if self.per_clip_eq and fit.reference_ltas_db:  # this sentence's own spectrum, matched
            eq = eq_toward(np.asarray(fit.reference_ltas_db), shaped, rate)
        clip = peak_normalise(shape_dynamics(apply_eq(shaped, eq, rate), rate, fit.energy_sd_db))
        clip = resample(clip, rate, self.output_sr)
        return SynthesizedClip(samples=clip, sample_rate=self.output_sr)


class LiteCloneHQTTS(LiteCloneTTS):
    """The ``lite`` engine at its highest-quality settings: pitch measured and an equaliser
    fitted on each sentence itself, 24 kHz out. Stands in for CosyVoice on machines without a GPU (labelled ``lite_hq``)."""

    name: ClassVar[str] = "lite_hq"
    per_clip_eq: ClassVar[bool] = True
    work_sr: ClassVar[int] = ESPEAK_SR
    output_sr: ClassVar[int] = 24_000
