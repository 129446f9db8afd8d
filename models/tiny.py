"""Tiny offline models for tests and demos (``avatar models tiny``).

Randomly initialised, few-kilobyte models with the *real* architectures and file layouts
(a Qwen2 chat LLM with a ChatML template; a multilingual Whisper converted to CTranslate2).
They produce gibberish, but every code path that loads, tokenises, streams, transcribes and
stops is exercised offline, in seconds, with no downloads. Real weights: :mod:`models.download`.

torch, transformers, tokenizers and ctranslate2 are imported inside the functions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar.model_files import INSTALL_HINT, missing_llm_files, missing_whisper_files
from models.download import ModelSetupError
from models.tiny_cosyvoice import make_tiny_cosyvoice2
from models.tiny_emotion import emotion_writer, is_complete as emotion_complete
from models.tiny_f5 import make_tiny_f5
from models.tiny_qwen_asr import make_tiny_qwen_asr
from models.tiny_vllm import is_complete as vllm_qwen2_complete, qwen2_writer
from models.tiny_voxcpm import make_tiny_voxcpm

# Qwen-style special tokens, in id order 0..2 (Qwen2.5 itself uses the same strings).
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

# The ChatML template Qwen2.5 uses, minus tool calling: what `apply_chat_template` renders.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Training text for the tiny byte-level BPE: everyday Taiwanese Mandarin (Traditional
# characters, Taiwan usage) with some English, so the merges look like a real zh-TW vocabulary.
TINY_CORPUS = """\
你好，我是 AVATAR，一位說台灣華語的語音助理。
今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。
明天下午可能會有午後雷陣雨，出門記得帶傘。
請問捷運淡水信義線的末班車是幾點？
從台北車站搭高鐵到左營大概要一個半小時。
我想預約星期五晚上七點的位子，兩個大人一個小孩。
這家店的牛肉麵很有名，湯頭清爽，麵條很有嚼勁。
夜市裡有雞排、蚵仔煎、臭豆腐，還有珍珠奶茶。
手機快沒電了，附近有便利商店可以充電嗎？
我剛剛用悠遊卡搭公車，餘額好像不太夠。
週末要不要一起去陽明山泡溫泉？
健保卡記得帶著，看醫生的時候要用。
這個軟體更新之後，語音辨識變得比較準確。
請幫我把這段話翻譯成英文，謝謝。
垃圾車每天晚上八點會經過我們家巷口。
颱風快來了，記得檢查門窗，準備好手電筒和飲用水。
我們公司下週一要開季度檢討會議。
發票可以存在手機載具裡，不用印出來。
台南的小吃很多，像是擔仔麵、碗粿和牛肉湯。
花蓮的太魯閣國家公園風景非常壯觀。
不好意思，我沒聽清楚，可以再說一次嗎？
好的，我來說明一下，整個流程大概分成三個步驟。
第一步先登入帳號，第二步選擇方案，第三步確認付款。
如果有任何問題，歡迎隨時問我。
這支影片的字幕是繁體中文，發音也很標準。
早餐店的蛋餅和豆漿是我每天的固定組合。
今天的會議改到下午三點，地點在十二樓的會議室。
高雄港的夕陽很漂亮，很多人會去西子灣看海。
請把冷氣調到二十六度，比較省電也比較舒服。
我最近在學寫程式，想用 Python 做一個小工具。
Hello, how can I help you today?
The weather in Taipei is sunny with a high of twenty-five degrees.
Please speak slowly so that the speech recognizer can follow.
Thank you for waiting, your order will be ready in five minutes.
I would like to book a table for two at seven o'clock.
The train to Kaohsiung leaves from platform three.
Can you read this message out loud for me?
AVATAR runs local models only, so your voice never leaves this computer.
Sorry, I did not catch that. Could you say it again?
Good night, see you tomorrow morning.
"""

# --- tiny models ---------------------------------------------------------------------------


def _build_tiny_tokenizer(vocab_size: int, pad_to: int | None = None) -> Any:
    """Train a byte-level BPE on TINY_CORPUS and wrap it in the real Qwen2 tokenizer class.

    Training uses the Qwen2 tokenizer's own normaliser and pre-tokeniser, so the merges fit
    exactly the pipeline that ``AutoTokenizer`` rebuilds when it loads the directory.
    ``pad_to``: filler tokens (`` x0``, `` x1``, ...: a space first, so a streamer releases
    each as it comes; never produced by a merge) bring the vocabulary to that size, so a real-size model's embedding and
    output layer, and the text a random one streams, are the real model's size.
    """
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    reference = Qwen2Tokenizer().backend_tokenizer
    trainable = Tokenizer(models.BPE())
    trainable.normalizer = reference.normalizer
    trainable.pre_tokenizer = reference.pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,  # ids 0, 1, 2
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte can be encoded
        show_progress=False,
    )
    trainable.train_from_iterator(TINY_CORPUS.splitlines(), trainer=trainer)
    bpe = json.loads(trainable.to_str())["model"]
    if pad_to is not None:
        for i in range(max(0, pad_to - len(bpe["vocab"]))):  # the special tokens are in it already
            bpe["vocab"][f"\u0120x{i}"] = len(bpe["vocab"])  # U+0120 is byte-level BPE's space
    return Qwen2Tokenizer(
        vocab=bpe["vocab"],
        merges=[tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in bpe["merges"]],
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        extra_special_tokens=[IM_START, IM_END],
        chat_template=CHATML_TEMPLATE,
        model_max_length=2048,
    )


TINY_QWEN2_DIMS = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "max_window_layers": 2}


def make_tiny_llm(dest: Path, *, seed: int = 0, force: bool = False) -> Path:
    """Write a tiny random Qwen2 chat model (weights, tokenizer, generation config) to ``dest``.

    Same seed, same files. Returns at once if ``dest`` already holds a complete model,
    unless ``force``. The model is built in a sibling temporary directory and moved into
    place, so a concurrent reader never sees a half-written one.
    """
    return make_random_qwen2(dest, TINY_QWEN2_DIMS, seed=seed, force=force)


def make_random_qwen2(dest: Path, dims: dict[str, Any], *, vocab_size: int | None = None, dtype: str = "float32",
                      max_new_tokens: int = 48, seed: int = 0, force: bool = False) -> Path:
    """A random Qwen2 chat model of ``dims`` (``Qwen2Config`` fields) with this module's
    tokenizer (padded to ``vocab_size``) and ChatML template, saved in ``dtype``."""
    dest = Path(dest)
    if not force and not missing_llm_files(dest):
        return dest
    try:
        import torch
        from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelSetupError(f"a random LLM needs torch and transformers ({exc}); {INSTALL_HINT}") from exc

    tokenizer = _build_tiny_tokenizer(vocab_size=2000, pad_to=vocab_size)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = Qwen2Config(
        vocab_size=len(tokenizer),  # the corpus yields ~1.5k merges; the model matches it exactly
        max_position_embeddings=dims.get("max_position_embeddings", 2048),
        tie_word_embeddings=dims.get("tie_word_embeddings", True),
        bos_token_id=ids[ENDOFTEXT], eos_token_id=ids[IM_END], pad_token_id=ids[ENDOFTEXT],
        **{k: v for k, v in dims.items() if k not in ("max_position_embeddings", "tie_word_embeddings")},
    )
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).to(getattr(torch, dtype)).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids[ENDOFTEXT],
        eos_token_id=[ids[IM_END], ids[ENDOFTEXT]],
        pad_token_id=ids[ENDOFTEXT],
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        max_new_tokens=max_new_tokens,
    )

    def write(tmp: Path) -> Path:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        return tmp

    return _write_into_place(dest, write)


def make_tiny_vllm_qwen2(dest: Path, *, seed: int = 0, force: bool = False) -> Path:
    """The tiny Qwen2 for vLLM (:mod:`models.tiny_vllm`): this module's tokenizer and template."""
    dest = Path(dest)
    if not force and vllm_qwen2_complete(dest):
        return dest
    tokenizer = _build_tiny_tokenizer(vocab_size=2000)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    return _write_into_place(dest, qwen2_writer(tokenizer, ids, eos=IM_END, pad=ENDOFTEXT, seed=seed))


def make_tiny_emotion(dest: Path, *, seed: int = 0, force: bool = False) -> Path:
    """The tiny dimensional emotion model (:mod:`models.tiny_emotion`) the prosody lane's
    optional second opinion loads."""
    dest = Path(dest)
    if not force and emotion_complete(dest):
        return dest
    return _write_into_place(dest, emotion_writer(seed=seed))


def _write_into_place(dest: Path, write: Callable[[Path], Path]) -> Path:
    """Build a model in a sibling temporary directory (``write(tmp)`` returns the folder to
    keep) and move it into place, so a concurrent reader never sees a half-written one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        built = write(tmp)
        _make_readable(built)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(built, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _make_readable(directory: Path) -> None:
    """mkdtemp (and some writers) create owner-only files; give them the usual umask modes."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


# --- tiny Whisper (CTranslate2, for faster-whisper) -------------------------------------------

WHISPER_SPECIALS_BEFORE_LANGS = ["<|endoftext|>", "<|startoftranscript|>"]
WHISPER_SPECIALS_AFTER_LANGS = [
    "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>",
]

TINY_WHISPER_DIMS = {"num_mel_bins": 80, "d_model": 32, "encoder_layers": 1, "encoder_attention_heads": 2,
                     "encoder_ffn_dim": 64, "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 64}


def make_tiny_whisper(dest: Path, *, seed: int = 0, force: bool = False, transformers_only: bool = False) -> Path:
    """Write a tiny random multilingual Whisper, converted to CTranslate2 int8, to ``dest``
    (``transformers_only``: the transformers checkpoint before conversion, the layout a
    fine-tune such as Breeze-ASR-25 is published in)."""
    return make_random_whisper(dest, TINY_WHISPER_DIMS, seed=seed, force=force, transformers_only=transformers_only)


def make_random_whisper(dest: Path, dims: dict[str, int], *, vocab_size: int | None = None,
                        quantization: str = "int8", seed: int = 0, force: bool = False,
                        transformers_only: bool = False) -> Path:
    """Write a random multilingual Whisper of ``dims`` (``WhisperConfig`` fields), converted
    to CTranslate2 (``quantization``), to ``dest``; ``vocab_size`` pads the vocabulary with
    filler text tokens (ids before the special tokens, as in the real vocabulary).

    Offline and with ``language="zh"`` honoured, because the folder holds ``tokenizer.json``,
    a ``preprocessor_config.json`` with the mel size, and the empty-string token that
    CTranslate2 takes as the mark of a multilingual vocabulary. Special tokens (languages,
    tasks, the empty token) are suppressed, so the random decoder writes ordinary tokens.
    """
    dest = Path(dest)
    complete = (dest / "config.json").is_file() and (dest / "model.safetensors").is_file() if transformers_only \
        else not missing_whisper_files(dest)
    if not force and complete:
        return dest
    try:
        import ctranslate2
        import torch
        from faster_whisper.tokenizer import _LANGUAGE_CODES
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import (
            GenerationConfig,
            WhisperConfig,
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperTokenizerFast,
        )
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelSetupError(f"tiny Whisper needs torch, transformers and faster-whisper ({exc}); {INSTALL_HINT}") from exc
    import json

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        TINY_CORPUS.splitlines(),
        trainer=trainers.BpeTrainer(
            vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        ),
    )
    spec = json.loads(bpe.to_str())
    specials = (
        WHISPER_SPECIALS_BEFORE_LANGS + [f"<|{code}|>" for code in _LANGUAGE_CODES] + WHISPER_SPECIALS_AFTER_LANGS
    )
    if vocab_size is not None:  # fillers, then the empty token, the specials and 1501 timestamps
        for i in range(vocab_size - len(spec["model"]["vocab"]) - 1 - len(specials) - 1501):
            spec["model"]["vocab"][f"x{i}"] = len(spec["model"]["vocab"])
    empty_id = spec["model"]["vocab"][""] = len(spec["model"]["vocab"])
    tokenizer = WhisperTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
        pad_token="<|endoftext|>", additional_special_tokens=specials[1:],
    )
    tokenizer.add_tokens(["<|%.2f|>" % (i * 0.02) for i in range(1501)])  # timestamps follow
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    suppress = sorted([empty_id] + [i for token, i in ids.items() if token != "<|endoftext|>"])
    config = WhisperConfig(
        vocab_size=len(tokenizer), **dims,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=eot, bos_token_id=eot, eos_token_id=eot, decoder_start_token_id=sot,
        suppress_tokens=suppress, begin_suppress_tokens=[eot],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot,
        suppress_tokens=suppress, begin_suppress_tokens=[eot], max_length=448,
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in _LANGUAGE_CODES},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
    )

    def write(tmp: Path) -> Path:
        hf_dir = tmp / "hf"
        model.save_pretrained(hf_dir)
        tokenizer.save_pretrained(hf_dir)
        WhisperFeatureExtractor(feature_size=dims["num_mel_bins"]).save_pretrained(hf_dir)
        if transformers_only:
            return hf_dir
        ctranslate2.converters.TransformersConverter(
            str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
        ).convert(str(tmp / "ct2"), quantization=quantization)
        return tmp / "ct2"

    return _write_into_place(dest, write)


# Each tiny model: its directory under models_dir/"tiny" and the function that writes it.
# Other model kinds (tiny whisper, tiny TTS) register here.
TINY_MODEL_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "llm": make_tiny_llm,
    "asr": make_tiny_whisper,
    "vllm-qwen2": make_tiny_vllm_qwen2,
    "emotion": make_tiny_emotion,  # the prosody lane's optional learned second opinion
}


# Written inside an engine environment (they need its package): only when named in ``which``.
ENGINE_ENV_BUILDERS: dict[str, Callable[[Path], Path]] = {
    "f5-tts": make_tiny_f5,  # and its vocoder, tiny/vocos-mel-24khz
    "cosyvoice2": make_tiny_cosyvoice2,
    "voxcpm": make_tiny_voxcpm,  # only when a lane is switched to voxcpm (_BY_ENGINE)
    "qwen-asr": make_tiny_qwen_asr,  # only with AVATAR_ASR_ENGINE=qwen_asr (_BY_ENGINE)
}
# Engine-env models that a profile writes only when a configured engine loads them (so their
# env is not built for nothing): tiny model -> (the settings that name engines, that engine).
_BY_ENGINE = {"voxcpm": (("tts_fast_engine", "tts_hq_engine"), "voxcpm"),
              "qwen-asr": (("asr_engine",), "qwen_asr")}


def tiny_models_of_profile(profile: str, engines: dict[str, str] | None = None) -> list[str]:
    """What ``avatar models tiny`` writes: the engine environments' models only for the
    profile whose engines run in them (``tiny-gpu``), an opt-in one (VoxCPM on ``tiny-gpu``,
    Qwen3-ASR on either tiny profile) only when ``engines`` (``{setting: engine}``, from the
    settings) selects the engine that loads it."""
    engines = engines or {}
    wanted = [*TINY_MODEL_BUILDERS]
    for name in ENGINE_ENV_BUILDERS:
        if name in _BY_ENGINE:
            keys, engine = _BY_ENGINE[name]
            profiles = ("tiny-gpu",) if name == "voxcpm" else ("tiny", "tiny-gpu")
            if profile in profiles and any(engines.get(key) == engine for key in keys):
                wanted.append(name)
        elif profile == "tiny-gpu":
            wanted.append(name)
    return wanted


def make_tiny_models(models_dir: Path, *, which: list[str] | None = None) -> dict[str, Path]:
    """Write every tiny model (or those named in ``which``) under ``models_dir/"tiny"``."""
    names = which or list(TINY_MODEL_BUILDERS)
    builders = {**TINY_MODEL_BUILDERS, **ENGINE_ENV_BUILDERS}
    unknown = sorted(set(names) - set(builders))
    if unknown:
        raise ModelSetupError(f"unknown tiny model(s) {unknown}; choose from {sorted(builders)}")
    root = Path(models_dir) / "tiny"
    return {name: builders[name](root / name) for name in names}
