"""Real speech for the prosody validation, and controlled manipulations of it (Praat PSOLA).

Sources: Mandarin from espeak-ng (always here), and the real human recording inside the
``f5-tts`` wheel, downloaded with ``pip download --no-deps f5-tts`` into a cache outside the
repository (never committed; its redistribution licence is unclear). Every manipulation is
compared with the *identity resynthesis* through the same Praat Manipulation object, because
resynthesis alone shifts features.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
import parselmouth
import soundfile as sf
from parselmouth.praat import call
from scipy.signal import resample_poly

from tests.voices import f5_wheel_member

RATE = 16000
F5_MEMBER = "f5_tts/infer/examples/basic/basic_ref_zh.wav"
# What the speaker of basic_ref_zh.wav says (from F5-TTS's own examples).
F5_TRANSCRIPT = "对，这就是我，万人敬仰的太乙真人。"
ESPEAK_TEXT = "今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。我們下午一起去公園散步，好嗎？"


@dataclass
class Speech:
    name: str
    samples: np.ndarray  # 16 kHz mono, peak 0.2 (so +12 dB never clips)
    transcript: str
    origin: str = ""


# The human recordings inside the f5-tts wheel: (member, transcript, description). The basic
# transcripts are F5-TTS's own (basic.toml and its examples). The "multi" story voices have
# none in the wheel (story.toml leaves ref_text empty: F5-TTS transcribes them with Whisper
# at run time). F5-TTS's pull request #146, which added them, says they come from the VCTK
# corpus, and a Whisper transcript of main.flac in a public repository reads the VCTK
# elicitation paragraph's third sentence (with "boons" for "spoons"): that prompt is its
# transcript. No transcript of town.flac or country.flac was found, so their syllables are
# counted from the signal (syllable nuclei).
MAIN_STORY_TRANSCRIPT = "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob."
HUMAN_RECORDINGS: dict[str, tuple[str, str, str]] = {
    "f5-zh-human": (F5_MEMBER, F5_TRANSCRIPT, "human, Mandarin, male, expressive"),
    "f5-en-human": ("f5_tts/infer/examples/basic/basic_ref_en.wav",
                    "Some call me nature, others call me mother nature.", "human, English, female"),
    "f5-en-story-main": ("f5_tts/infer/examples/multi/main.flac", MAIN_STORY_TRANSCRIPT,
                         "human, English, story narration"),
    "f5-en-story-town": ("f5_tts/infer/examples/multi/town.flac", "", "human, English, story voice"),
    "f5-en-story-country": ("f5_tts/infer/examples/multi/country.flac", "", "human, English, story voice"),
}


def _normalise(x: np.ndarray, rate: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != RATE:
        g = np.gcd(rate, RATE)
        x = resample_poly(x, RATE // g, rate // g)
    pad = np.zeros(int(0.3 * RATE))  # what a VAD keeps around an utterance
    x = np.concatenate([pad, x, pad])
    return 0.2 * x / np.max(np.abs(x))


def espeak_speech(text: str = ESPEAK_TEXT, speed: int = 170) -> Speech:
    out = subprocess.run(
        ["espeak-ng", "-v", "cmn+f2", "-s", str(speed), "--stdout", text],
        capture_output=True, check=True, timeout=60,
    ).stdout
    import io

    x, rate = sf.read(io.BytesIO(out))
    return Speech("espeak-cmn-f2", _normalise(x, rate), text, "espeak-ng, Mandarin, synthetic")


def f5_speech() -> Speech | str:
    """The real recording, or the reason it is not available here."""
    wav = f5_wheel_member(F5_MEMBER)
    if isinstance(wav, str):
        return wav
    x, rate = sf.read(wav)
    return Speech("f5-zh-human", _normalise(x, rate), F5_TRANSCRIPT, HUMAN_RECORDINGS["f5-zh-human"][2])


def human_speech(name: str) -> Speech | str:
    """One of ``HUMAN_RECORDINGS``, or the reason it is not available here."""
    member, transcript, origin = HUMAN_RECORDINGS[name]
    path = f5_wheel_member(member)
    if isinstance(path, str):
        return path
    x, rate = sf.read(path)
    return Speech(name, _normalise(x, rate), transcript, origin)


# --- manipulations (Praat Manipulation object: pitch tier, duration tier, PSOLA) ----------


# PSOLA places each output pulse on a whole sample. At 16 kHz that rounding alone is a
# period jitter of about 0.34 samples / period (RAP 0.5 % at 240 Hz: the identity
# resynthesis of the Mandarin recording measured 0.53 % against the original's 0.30 %), and
# it grows with F0, so a pitch shift read as a jitter change. Resynthesising at 48 kHz and
# coming back to 16 kHz puts the pulses at a third of a sample.
SYNTHESIS_RATE = 3 * RATE


def _manipulation(x: np.ndarray) -> tuple[parselmouth.Sound, object]:
    snd = parselmouth.Sound(resample_poly(x, SYNTHESIS_RATE // RATE, 1), sampling_frequency=SYNTHESIS_RATE)
    return snd, call(snd, "To Manipulation", 0.01, 75, 600)


def _resynthesise(manip: object) -> np.ndarray:
    # Praat's overlap-add draws random numbers (for unvoiced stretches): unseeded, the same
    # manipulation gives a different signal on every run and a borderline verdict flips.
    parselmouth.praat.run("random_initializeWithSeedUnsafelyButPredictably (1)\n")
    out = call(manip, "Get resynthesis (overlap-add)")
    return resample_poly(np.asarray(out.values[0], dtype=np.float64), 1, SYNTHESIS_RATE // RATE)


def _pitch_points(manip: object) -> tuple[object, np.ndarray, np.ndarray]:
    tier = call(manip, "Extract pitch tier")
    n = int(call(tier, "Get number of points"))
    times = np.array([call(tier, "Get time from index", i) for i in range(1, n + 1)])
    values = np.array([call(tier, "Get value at index", i) for i in range(1, n + 1)])
    return tier, times, values


def _with_pitch(x: np.ndarray, change) -> np.ndarray:  # change(times, hz) -> new hz
    snd, manip = _manipulation(x)
    _, times, values = _pitch_points(manip)
    new = call("Create PitchTier", "changed", snd.xmin, snd.xmax)
    for t, f in zip(times, change(times, values)):
        call(new, "Add point", float(t), float(f))
    call([new, manip], "Replace pitch tier")
    return _resynthesise(manip)


def identity(x: np.ndarray) -> np.ndarray:
    """The control: analysed and resynthesised, nothing changed."""
    return _resynthesise(_manipulation(x)[1])


# The pitch tier of a Manipulation has a point at every glottal pulse, so it holds both the
# intonation and the cycle-to-cycle jitter. A manipulation of the intonation must leave the
# jitter alone: a flat tier (f = median) also made every period equal (the town voice's RAP
# fell from 0.33 % to 0.17 %), and (f / median) ** 1.5 also multiplied each period's deviation
# by 1.5 (RAP rose by 10-40 %), so "monotone" and "F0 range x1.5" moved the jitter cue of
# stability as well as the intonation (issue 19). The intonation is the tier smoothed over
# INTONATION_PERIODS consecutive pulses within a voiced stretch; the jitter is f / that.
INTONATION_PERIODS = 5
VOICED_GAP_S = 0.03  # pulses further apart than this are in different voiced stretches


def intonation(times: np.ndarray, hz: np.ndarray) -> np.ndarray:
    """The slow F0 contour under a pitch tier's per-pulse points: a centred running mean of
    log F0 over INTONATION_PERIODS points, never across an unvoiced gap."""
    log_hz = np.log(hz)
    smooth = np.empty_like(log_hz)
    breaks = np.flatnonzero(np.diff(times) > VOICED_GAP_S) + 1
    half = INTONATION_PERIODS // 2
    for run in np.split(np.arange(hz.size), breaks):
        for i in run:
            lo, hi = max(run[0], i - half), min(run[-1], i + half)
            smooth[i] = log_hz[lo : hi + 1].mean()
    return np.exp(smooth)


def monotone(x: np.ndarray) -> np.ndarray:
    """Flat intonation at the median F0; each pulse keeps its own deviation (jitter)."""
    def flatten(t: np.ndarray, f: np.ndarray) -> np.ndarray:
        slow = intonation(t, f)
        return np.median(f) * f / slow
    return _with_pitch(x, flatten)


def f0_range(x: np.ndarray, factor: float) -> np.ndarray:
    """The intonation's excursions from the median scaled by ``factor`` (in log F0); each
    pulse keeps its own deviation (jitter)."""
    def widen(t: np.ndarray, f: np.ndarray) -> np.ndarray:
        slow, centre = intonation(t, f), np.median(f)
        return centre * (slow / centre) ** factor * f / slow
    return _with_pitch(x, widen)


def shift_semitones(x: np.ndarray, st: float) -> np.ndarray:
    return _with_pitch(x, lambda t, f: f * 2 ** (st / 12))


def tremor(x: np.ndarray, hz: float = 6.0, depth: float = 0.04) -> np.ndarray:
    """F0 modulated at ``hz`` by +-``depth`` (0.04: about +-0.7 semitone)."""
    return _with_pitch(x, lambda t, f: f * (1 + depth * np.sin(2 * np.pi * hz * t)))


def jitter(x: np.ndarray, relative_sd: float = 0.04, seed: int = 1) -> np.ndarray:
    """Cycle-to-cycle period perturbation: a pitch point at every original glottal pulse,
    each off its neighbours by a random ``relative_sd``."""
    snd, manip = _manipulation(x)
    _, times, values = _pitch_points(manip)
    pulses = call(manip, "Extract pulses")
    n = int(call(pulses, "Get number of points"))
    pulse_t = np.array([call(pulses, "Get time from index", i) for i in range(1, n + 1)])
    voiced = (pulse_t >= times.min()) & (pulse_t <= times.max())
    pulse_t = pulse_t[voiced]
    hz = np.interp(pulse_t, times, values)
    rng = np.random.default_rng(seed)
    new = call("Create PitchTier", "jittered", snd.xmin, snd.xmax)
    for t, f in zip(pulse_t, hz * (1 + rng.normal(0, relative_sd, hz.size))):
        call(new, "Add point", float(t), float(f))
    call([new, manip], "Replace pitch tier")
    return _resynthesise(manip)


def _pulse_times(x: np.ndarray) -> np.ndarray:
    """Glottal pulse instants (s) of the recording, from the same Manipulation analysis."""
    _, manip = _manipulation(x)
    pulses = call(manip, "Extract pulses")
    n = int(call(pulses, "Get number of points"))
    return np.array([call(pulses, "Get time from index", i) for i in range(1, n + 1)])


def shimmer(x: np.ndarray, relative_sd: float = 0.15, seed: int = 3) -> np.ndarray:
    """Cycle-to-cycle amplitude perturbation: each glottal period (pulse to pulse, inside
    voiced stretches) scaled by its own random factor around 1."""
    pulses = _pulse_times(x)
    rng = np.random.default_rng(seed)
    y = x.copy()
    edges = np.round(pulses * RATE).astype(int)
    for start, end in zip(edges[:-1], edges[1:]):
        if end - start < RATE // 600 or end - start > RATE // 60:  # not one voiced period
            continue
        y[start:end] *= max(0.2, 1.0 + rng.normal(0.0, relative_sd))
    return y


def amplitude_tremor(x: np.ndarray, hz: float = 6.0, depth: float = 0.3) -> np.ndarray:
    """The amplitude modulated at ``hz`` by +-``depth`` (0.3: about +-3 dB)."""
    t = np.arange(x.size) / RATE
    return x * (1.0 + depth * np.sin(2 * np.pi * hz * t))


def tempo(x: np.ndarray, factor: float) -> np.ndarray:
    """``factor`` > 1 speaks faster (durations divided by it), pitch unchanged."""
    snd, manip = _manipulation(x)
    tier = call("Create DurationTier", "tempo", snd.xmin, snd.xmax)
    call(tier, "Add point", snd.xmin, 1.0 / factor)
    call([tier, manip], "Replace duration tier")
    return _resynthesise(manip)


def insert_pauses(x: np.ndarray, count: int = 3, pause_s: float = 0.6) -> np.ndarray:
    """Silences inserted at the quietest moments (between words), at least 1 s apart."""
    hop = RATE // 100
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    inner = np.arange(int(0.5 * 100), level.size - int(0.5 * 100))
    cuts: list[int] = []
    for i in inner[np.argsort(level[inner])]:
        if all(abs(i - c) >= 100 for c in cuts):
            cuts.append(int(i))
        if len(cuts) == count:
            break
    pieces, start = [], 0
    for c in sorted(cuts):
        pieces += [x[start : c * hop], np.zeros(int(pause_s * RATE))]
        start = c * hop
    pieces.append(x[start:])
    return np.concatenate(pieces)


def with_noise(x: np.ndarray, snr_db: float, seed: int = 2) -> np.ndarray:
    """White noise at ``snr_db`` below the power of the speech (frames within 25 dB of the
    loudest), the way SNR is quoted for speech."""
    hop = RATE // 100
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    power = np.mean(frames**2, axis=1)
    speech_power = power[power >= power.max() / 10 ** 2.5].mean()
    rng = np.random.default_rng(seed)
    return x + rng.normal(0, np.sqrt(speech_power / 10 ** (snr_db / 10)), x.size)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    return x * 10 ** (db / 20)


def resampled(x: np.ndarray, rate: int = 44100) -> tuple[np.ndarray, int]:
    g = np.gcd(rate, RATE)
    return resample_poly(x, rate // g, RATE // g), rate


def windows(x: np.ndarray, count: int = 4, share: float = 0.6) -> list[np.ndarray]:
    """Overlapping windows covering ``share`` of the recording each, evenly spaced."""
    length = int(x.size * share)
    starts = np.linspace(0, x.size - length, count).astype(int)
    return [x[s : s + length] for s in starts]
