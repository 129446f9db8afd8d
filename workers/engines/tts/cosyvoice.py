"""``cosyvoice``: CosyVoice 2/3, the GPU high-quality tier (24 kHz).

Zero-shot cloning with the reference and its transcript (``inference_zero_shot``); when the
reply carries an emotion/style hint, ``inference_instruct2`` speaks it in that style.
CosyVoice 3 prompt texts start with its system prefix.

Two call shapes of the same upstream code (FunAudioLLM/CosyVoice) are supported, told apart
by the generator's signature:

- upstream since December 2025: ``inference_zero_shot(tts_text, prompt_text, prompt_wav)``,
  the prompt a WAV path, and the caller ends an instruction with ``<|endofprompt|>``;
- before it (what PyPI's ``cosyvoice-minicpmo`` packages, the ``cosyvoice`` engine
  environment's copy): ``prompt_speech_16k``, a ``(1, N)`` 16 kHz tensor, and the front end
  appends ``<|endofprompt|>`` itself.

``cosyvoice-minicpmo`` ships upstream's modules (June 2025) unchanged except three: its
``CosyVoice2`` builds the model without the text-to-speech-token LLM (MiniCPM-o brings its
own) and its front end without the text normaliser. :func:`restore_text_llm` puts the LLM
back from the model folder with the package's own ``Qwen2LM`` (what upstream's constructor
does), and the text frontend is skipped (``text_frontend=False``): the speech service has
already normalised the text for zh-TW (``normalize_zh``), where CosyVoice's would apply
mainland conventions. Upstream's own package keeps its LLM and both steps are no-ops there.

:meth:`CosyVoiceTTS.stream` speaks a sentence piece by piece (``stream=True``), each piece as
soon as the flow and the vocoder have it; a real-size random model's folder fixes how much speech
it makes (:func:`hold_speech_length`).
"""

from __future__ import annotations

import inspect
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf

from avatar.model_files import random_weights
from gpu_scheduler.registry import TTS_HQ_COSYVOICE
from workers.engines.base import Availability, EngineUnavailable
from workers.engines.tts.base import SynthesizedClip, VoiceReference
from workers.engines.tts.gpu_host import loaded_model
from workers.engines.tts.neural import NeuralCloneTTS, to_numpy, unspeakable_pause

SAMPLE_RATE = 24_000
COSYVOICE3_PREFIX = "You are a helpful assistant.<|endofprompt|>"
COSYVOICE3_SYSTEM = "You are a helpful assistant. "
END_OF_PROMPT = "<|endofprompt|>"
ENV_NAME = "cosyvoice"
# Style hints → CosyVoice instructions (it follows natural-language instructions).
INSTRUCTIONS = {
    "happy": "用開心愉快的語氣說", "cheerful": "用開心愉快的語氣說", "excited": "用興奮激動的語氣說",
    "sad": "用悲傷低落的語氣說", "calm": "用平靜溫和的語氣說", "serious": "用嚴肅認真的語氣說",
}
# What the model folder must hold (FunAudioLLM/CosyVoice2-0.5B's layout; tiny/cosyvoice2 too).
CHECKPOINT_FILES = ("llm.pt", "flow.pt", "hift.pt", "campplus.onnx")
CONFIGS = ("cosyvoice2.yaml", "cosyvoice3.yaml")
SPEECH_TOKENIZERS = {"cosyvoice2.yaml": "speech_tokenizer_v2.onnx", "cosyvoice3.yaml": "speech_tokenizer_v3.onnx"}


COSYVOICE3_FIX = (
    "run CosyVoice 3 from upstream FunAudioLLM/CosyVoice (December 2025 or later: the docker/hq image), "
    "or point AVATAR_COSYVOICE_MODEL_DIR at a CosyVoice 2 folder (avatar models pull --profile gpu-cosyvoice2)"
)


def instruction_for(style: str | None) -> str | None:
    if not style:
        return None
    return INSTRUCTIONS.get(style.lower(), style)  # free text passes through as the instruction


def takes_wav_path(method: Any) -> bool:
    """True for upstream's current ``prompt_wav`` shape, False for ``prompt_speech_16k``."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return True
    return "prompt_speech_16k" not in params


def restore_text_llm(model: Any, model_dir: Path) -> None:
    """Give a ``CosyVoice2`` built without its LLM (``cosyvoice-minicpmo``) the one its
    folder holds: the config's ``Qwen2LM`` with ``llm.pt``, on the model's device."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    with open(model_dir / "cosyvoice2.yaml") as f:
        configs = load_hyperpyyaml(f, overrides={"qwen_pretrain_path": str(model_dir / "CosyVoice-BlankEN")})
    llm = configs["llm"]
    device = model.model.device
    llm.load_state_dict(torch.load(model_dir / "llm.pt", map_location=device, weights_only=True), strict=True)
    model.model.llm = llm.to(device).eval()
    if getattr(model.model, "fp16", False):
        model.model.llm.half()


def hold_speech_length(model: Any, tokens_per_char: float) -> None:
    """A real-size random model (:class:`avatar.model_files.RandomWeights`): its LLM speaks
    exactly ``tokens_per_char`` speech tokens per character of the text, as a real model would,
    where a random one's stop token would come anywhere. The package's own length bounds
    (``min/max_token_text_ratio``, per text token) are both set to that count, and the stop ids
    (``speech_token_size`` on: end of speech and turn marks) are never sampled."""
    import torch

    llm, tokenizer = model.model.llm, model.frontend.tokenizer
    inference, sampling, stop = llm.inference, llm.sampling, llm.speech_token_size

    def fixed_length(*args: Any, **kwargs: Any) -> Any:
        text, text_len = kwargs["text"], kwargs["text_len"]  # the package calls it with keywords
        count = max(1, round(len(tokenizer.decode(text[0].tolist())) * tokens_per_char))
        ratio = (count + 0.5) / int(text_len)  # int(text tokens * ratio) == count
        return inference(*args, **{**kwargs, "min_token_text_ratio": ratio, "max_token_text_ratio": ratio})

    def speech_only(scores: Any, decoded: Any, top_k: int) -> Any:
        scores = scores.clone()
        scores[stop:] = -torch.inf
        return sampling(scores, decoded, top_k)

    llm.inference, llm.sampling = fixed_length, speech_only


class CosyVoiceTTS(NeuralCloneTTS):
    name: ClassVar[str] = "cosyvoice"
    package: ClassVar[str] = "cosyvoice"
    install_hint: ClassVar[str] = (
        f"build its engine environment: avatar engines install {ENV_NAME} "
        "(the tts_hq lane's worker runs from it; its pinned torch/torchaudio conflict with ours)"
    )
    model_name: ClassVar[str] = TTS_HQ_COSYVOICE
    reference_sr: ClassVar[int] = 16_000  # prompt audio: >= 16 kHz, <= 30 s
    reference_max_s: ClassVar[float] = 30.0

    def model_path(self) -> Path:
        return Path(self.settings.cosyvoice_model_dir)  # the settings resolve the profile's default

    def checkpoint_fix(self) -> str:
        path = self.model_path()
        if (self.settings.resolved_models_dir / "tiny") in path.parents:
            return f"regenerate the tiny model: rm -r {path} && avatar models tiny"
        return f"download the CosyVoice weights into {path}: avatar models pull --profile gpu"

    def missing_files(self) -> list[str]:
        path = self.model_path()
        config = next((c for c in CONFIGS if (path / c).is_file()), None)
        if config is None:
            return [" or ".join(CONFIGS)]
        wanted = (*CHECKPOINT_FILES, SPEECH_TOKENIZERS[config])
        return [name for name in wanted if not (path / name).is_file()]

    def availability(self) -> Availability:
        availability = super().availability()
        if not availability.ok:
            if "not found" in availability.reason:
                return Availability(False, availability.reason, self.checkpoint_fix())
            return availability
        missing = self.missing_files()
        if missing:
            return Availability(False, f"the CosyVoice checkpoint at {self.model_path()} lacks {', '.join(missing)}",
                                self.checkpoint_fix())
        return Availability(True)

    def load(self) -> Any:
        from cosyvoice.cli import cosyvoice as package

        model_dir = self.model_path()
        # torch.save writes zip archives: a truncated or foreign file is named before torch's
        # own message (which does not say which file it was reading).
        broken = [name for name in CHECKPOINT_FILES if name.endswith(".pt") and not zipfile.is_zipfile(model_dir / name)]
        if broken:
            raise EngineUnavailable(
                self.name, f"cannot load the CosyVoice checkpoint at {model_dir}: {', '.join(broken)} "
                "is not a PyTorch checkpoint (truncated or corrupted)", self.checkpoint_fix())
        if (model_dir / "cosyvoice3.yaml").is_file() and not hasattr(package, "CosyVoice3"):
            raise EngineUnavailable(
                self.name, f"{model_dir} is a CosyVoice 3 checkpoint, and this cosyvoice package has no "
                "CosyVoice3 (PyPI's cosyvoice-minicpmo, the cosyvoice engine environment's copy, is CosyVoice 2 "
                "only)", COSYVOICE3_FIX)
        try:
            auto = getattr(package, "AutoModel", None)  # upstream since December 2025
            model = auto(model_dir=str(model_dir)) if auto else package.CosyVoice2(str(model_dir))
            if getattr(model.model, "llm", None) is None:
                restore_text_llm(model, model_dir)
            declared = random_weights(model_dir)
            if declared is not None and declared.tokens_per_char:
                hold_speech_length(model, declared.tokens_per_char)
        except Exception as exc:  # a truncated .pt, a broken .onnx, a config that does not build
            raise EngineUnavailable(
                self.name, f"cannot load the CosyVoice checkpoint at {model_dir}: {type(exc).__name__}: {exc}",
                self.checkpoint_fix(),
            ) from exc
        return model

    @staticmethod
    def prompt_text(model: Any, transcript: str) -> str:
        return COSYVOICE3_PREFIX + transcript if type(model).__name__ == "CosyVoice3" else transcript

    @staticmethod
    def instruct_text(model: Any, instruction: str, wav_path_shape: bool) -> str:
        if not wav_path_shape:
            return instruction  # the older front end appends <|endofprompt|> itself
        system = COSYVOICE3_SYSTEM if type(model).__name__ == "CosyVoice3" else ""
        return f"{system}{instruction}{END_OF_PROMPT}"

    def calls(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None, stream: bool = False) -> tuple[str, dict[str, Any]]:
        """Which generator and its arguments (kept apart from the call for testing). The
        prompt audio is the reference's path under the key the generator takes."""
        instruction = instruction_for(style)
        method = "inference_instruct2" if instruction and hasattr(model, "inference_instruct2") else "inference_zero_shot"
        wav_path_shape = takes_wav_path(getattr(model, method))
        kwargs: dict[str, Any] = {"tts_text": sentence}
        if method == "inference_instruct2":
            kwargs["instruct_text"] = self.instruct_text(model, instruction or "", wav_path_shape)
        else:
            kwargs["prompt_text"] = self.prompt_text(model, voice.transcript)
        kwargs["prompt_wav" if wav_path_shape else "prompt_speech_16k"] = str(reference)
        kwargs.update(stream=stream, text_frontend=False)
        return method, kwargs

    @staticmethod
    def prompt_tensor(path: str) -> Any:
        """The 16 kHz reference as the ``(1, N)`` float tensor the older shape takes."""
        import torch

        samples, _sr = sf.read(path, dtype="float32", always_2d=False)
        return torch.from_numpy(np.ascontiguousarray(samples.reshape(-1))).unsqueeze(0)

    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path,
              style: str | None) -> tuple[np.ndarray, int]:
        chunks = list(self.pieces(model, sentence, voice, reference, style, stream=False))
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32), int(getattr(model, "sample_rate", SAMPLE_RATE))

    def pieces(self, model: Any, sentence: str, voice: VoiceReference, reference: Path, style: str | None,
               stream: bool) -> Iterator[np.ndarray]:
        """The generator's audio for one sentence: one piece, or (``stream``) one per chunk of speech tokens."""
        import torch

        method, kwargs = self.calls(model, sentence, voice, reference, style, stream)
        # CosyVoice samples its speech tokens at random: seeded, the same sentence sounds the
        # same when re-synthesised (as F5's seed=0), and a run can be repeated exactly.
        torch.manual_seed(0)
        if "prompt_speech_16k" in kwargs:
            kwargs["prompt_speech_16k"] = self.prompt_tensor(kwargs["prompt_speech_16k"])
        for item in getattr(model, method)(**kwargs):
            yield to_numpy(item["tts_speech"])

    def stream(self, text: str, *, voice: VoiceReference | None = None,
               style: str | None = None) -> Iterator[SynthesizedClip]:
        """``synthesize``'s speech piece by piece (CosyVoice's ``stream=True``): each clip as soon
        as the flow and the vocoder have made it (the first from 25 speech tokens, one second)."""
        sentences, reference = self.prepared(text, voice)
        if reference is None:
            yield unspeakable_pause()
            return
        with loaded_model(self.settings, self.model_name, self.load) as model:
            rate = int(getattr(model, "sample_rate", SAMPLE_RATE))
            for sentence in sentences:
                for samples in self.pieces(model, sentence, voice, reference, style, stream=True):
                    yield SynthesizedClip(samples=samples, sample_rate=rate)
