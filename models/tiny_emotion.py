"""The tiny dimensional speech-emotion model (``tiny/emotion`` under models_dir): random
weights in the checkpoint layout of ``audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim``,
which :mod:`workers.engines.emotion.wav2vec2_dim` loads.

The layout is written here from the model card, not by saving the engine's own class, so a
loader that stopped matching the published checkpoint would fail on this one too:
``config.json`` (a ``Wav2Vec2Config`` with ``num_labels`` 3 and ``final_dropout``),
``model.safetensors`` (the ``Wav2Vec2Model`` under ``wav2vec2.``, the head as
``classifier.dense`` and ``classifier.out_proj``) and ``preprocessor_config.json``.

The real model is wav2vec2-large-robust cut to 12 layers (hidden 1024, 16 heads, stable
layer norm, layer-normed feature encoder); this one keeps the same blocks and the same seven
convolutions with their kernels and strides (one output frame per 20 ms, as in the real one)
at widths of a few dozen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.download import ModelSetupError

REQUIRED_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")

TINY_ARCH = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2,
}


def is_complete(folder: Path) -> bool:
    return all((Path(folder) / name).is_file() for name in REQUIRED_FILES)


def emotion_writer(*, seed: int = 0) -> Callable[[Path], Path]:
    """A function that writes the tiny checkpoint into a folder (same seed, same weights)."""
    try:
        import torch
        from safetensors.torch import save_file
        from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelSetupError(f"the tiny emotion model needs torch and transformers ({exc})") from exc

    config = Wav2Vec2Config(
        **TINY_ARCH,
        # as in the real checkpoint's config.json
        conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        feat_extract_norm="layer", do_stable_layer_norm=True, final_dropout=0.1,
        num_labels=3, id2label={0: "arousal", 1: "dominance", 2: "valence"},
        label2id={"arousal": 0, "dominance": 1, "valence": 2}, architectures=["EmotionModel"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = Wav2Vec2Model(config)
        dense = torch.nn.Linear(config.hidden_size, config.hidden_size)
        out_proj = torch.nn.Linear(config.hidden_size, 3)
    tensors = {f"wav2vec2.{k}": v for k, v in encoder.state_dict().items()}
    tensors.update({f"classifier.dense.{k}": v for k, v in dense.state_dict().items()})
    tensors.update({f"classifier.out_proj.{k}": v for k, v in out_proj.state_dict().items()})
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )

    def write(folder: Path) -> Path:
        config.save_pretrained(folder)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "model.safetensors"),
                  metadata={"format": "pt"})
        extractor.save_pretrained(folder)
        return folder

    return write
