"""Writes the tiny F5-TTS and its Vocos vocoder (:mod:`models.tiny_f5` says what and where).

Runs inside the ``f5`` engine environment, the one with f5_tts and vocos:
``python -m models.tiny_f5_writer --dest <models_dir>/tiny/f5-tts`` (what
:func:`models.tiny_f5.make_tiny_f5` runs). The model is built by f5_tts's own classes from
the package's own ``F5TTS_v1_Base`` config, with only the dimensions made small.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

import torch
import yaml
from f5_tts.model import CFM, DiT
from f5_tts.model.utils import convert_char_to_pinyin
from omegaconf import OmegaConf
from safetensors.torch import save_file
from vocos import Vocos

from models.tiny import TINY_CORPUS, _write_into_place
from models.tiny_f5 import CHECKPOINT, CONFIG, REAL_VOCOS, TINY_ARCH, TINY_VOCOS, VOCAB, VOCOS_FOLDER

MEL_KEYS = ("n_fft", "hop_length", "win_length", "n_mel_channels", "target_sample_rate", "mel_spec_type")


def tiny_vocab() -> list[str]:
    """F5's own pinyin conversion of the tiny corpus, plus printable ASCII; space first
    (F5 maps unknown tokens to id 0)."""
    tokens = {t for line in convert_char_to_pinyin(TINY_CORPUS.splitlines()) for t in line}
    tokens |= {chr(c) for c in range(33, 127)}
    return [" ", *sorted(t for t in tokens if t.strip() and "\n" not in t)]


def randomise_zeros(module: torch.nn.Module, generator: torch.Generator) -> None:
    """F5's DiT zero-initialises its output projection and adaLN gates (training moves
    them); left at zero the flow never moves, so a random model of the real kind gets small
    random values there too."""
    with torch.no_grad():
        for param in module.parameters():
            if param.dim() > 0 and not param.any():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def tiny_config(real_size: bool = False) -> object:
    """The package's own F5TTS_v1_Base config, at small dimensions unless ``real_size``."""
    base = OmegaConf.load(str(files("f5_tts").joinpath("configs/F5TTS_v1_Base.yaml")))
    config = OmegaConf.create({"model": OmegaConf.to_container(base.model)})
    if not real_size:
        config.model.name = "F5TTS_v1_Tiny"
        config.model.arch.update(TINY_ARCH)
    return config


def vocos_config(mel: object, widths: dict[str, int] = TINY_VOCOS) -> dict[str, object]:
    """charactr/vocos-mel-24khz's layout (mel front end, ConvNeXt backbone, ISTFT head),
    at F5's mel settings and ``widths``."""
    return {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures", "init_args": {
            "sample_rate": mel.target_sample_rate, "n_fft": mel.n_fft, "hop_length": mel.hop_length,
            "n_mels": mel.n_mel_channels, "padding": "center"}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": mel.n_mel_channels, **widths}},
        "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": {
            "dim": widths["dim"], "n_fft": mel.n_fft, "hop_length": mel.hop_length, "padding": "same"}},
    }


def write_tiny_f5(f5_dest: Path, vocos_dest: Path, *, seed: int = 0, real_size: bool = False) -> None:
    config = tiny_config(real_size)
    mel = config.model.mel_spec
    vocab = tiny_vocab()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cfm = CFM(
            transformer=DiT(**config.model.arch, text_num_embeds=len(vocab), mel_dim=mel.n_mel_channels),
            mel_spec_kwargs={k: mel[k] for k in MEL_KEYS},
            vocab_char_map={t: i for i, t in enumerate(vocab)},
        )
        randomise_zeros(cfm, generator)

        def write_vocos(tmp: Path) -> Path:
            widths = REAL_VOCOS if real_size else TINY_VOCOS
            (tmp / "config.yaml").write_text(yaml.safe_dump(vocos_config(mel, widths), sort_keys=False))
            vocoder = Vocos.from_hparams(str(tmp / "config.yaml"))
            torch.save(vocoder.state_dict(), tmp / "pytorch_model.bin")
            return tmp

        _write_into_place(vocos_dest, write_vocos)

    def write_f5(tmp: Path) -> Path:
        # Keys as in the released checkpoints: the EMA model's, which F5's loader reads.
        state = {f"ema_model.{k}": v.contiguous() for k, v in cfm.state_dict().items()}
        save_file(state, str(tmp / CHECKPOINT))
        (tmp / VOCAB).write_text("".join(f"{t}\n" for t in vocab), encoding="utf-8")
        OmegaConf.save(config, tmp / CONFIG)
        return tmp

    _write_into_place(f5_dest, write_f5)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the tiny F5-TTS (run in the f5 engine environment).")
    parser.add_argument("--dest", type=Path, required=True, help=".../tiny/f5-tts (the vocoder goes beside it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-size", action="store_true", help="F5TTS_v1_Base's own dimensions (random weights)")
    args = parser.parse_args()
    write_tiny_f5(args.dest, args.dest.parent / VOCOS_FOLDER, seed=args.seed, real_size=args.real_size)
    print(f"wrote {args.dest} and {args.dest.parent / VOCOS_FOLDER}")


if __name__ == "__main__":
    main()
