"""Writes the tiny VoxCPM folder (:mod:`models.tiny_voxcpm` says what and why).

Runs inside the ``voxcpm`` engine environment, the one with the ``voxcpm`` package:
``python -m models.tiny_voxcpm_writer DEST [--seed N] [--architecture voxcpm2]`` (what
:func:`models.tiny_voxcpm.make_tiny_voxcpm` runs). The model is the package's own
``VoxCPMModel`` (or ``VoxCPM2Model``) built from the ``VoxCPMConfig`` of its module, which the
package validates, with only the
dimensions made small; the folder is then loaded back with ``VoxCPMModel.from_local`` before
it is moved into place, so a folder the package cannot read is never written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaTokenizerFast, PreTrainedTokenizerFast
from voxcpm.model import voxcpm as v1, voxcpm2 as v2
from voxcpm.modules.audiovae import AudioVAE, AudioVAEV2

from models.tiny import TINY_CORPUS, _write_into_place
from models.tiny_voxcpm import ARCHITECTURES, MARKER

SPECIALS = ["<unk>", "<s>", "</s>"]
LM_WIDTH, LM_HEADS, LM_KV_HEADS = 64, 2, 1
HEAD_DIM = LM_WIDTH // LM_HEADS
LATENT_DIM = 16  # the VAE's latent = the model's feat_dim (64 in VoxCPM-0.5B)
MAX_LENGTH = 4096  # KV-cache length (text + prompt + generated patches), as the real config


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """One token per character of the corpus (plus printable ASCII), ``▁`` for word starts
    (Llama's Metaspace), byte fallback for anything else; ``<unk>``/``<s>``/``</s>`` first."""
    chars = sorted({c for c in TINY_CORPUS if not c.isspace()} | {chr(c) for c in range(33, 127)})
    vocab = {token: i for i, token in enumerate([*SPECIALS, *(f"<0x{b:02X}>" for b in range(256)), "▁", *chars])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def tiny_config(vocab_size: int, architecture: str = "voxcpm") -> dict[str, Any]:
    """The package's config schema at few-kilobyte sizes: VoxCPM-0.5B's (``voxcpm``: 16 kHz,
    2 latents per patch) or VoxCPM2's (``voxcpm2``: 16 kHz in, 48 kHz out, 4 per patch)."""
    # One rotary table for every MiniCPM stack (the encoder and DiT copy the LM config):
    # the same head size (LM_WIDTH / LM_HEADS) in each.
    block = {"hidden_dim": LM_WIDTH, "ffn_dim": 2 * LM_WIDTH, "num_heads": LM_HEADS, "num_layers": 1}
    config: dict[str, Any] = {
        "architecture": architecture,
        "lm_config": {
            "bos_token_id": 1, "eos_token_id": 2, "vocab_size": vocab_size,
            "hidden_size": LM_WIDTH, "intermediate_size": 2 * LM_WIDTH, "num_hidden_layers": 2,
            "num_attention_heads": LM_HEADS, "num_key_value_heads": LM_KV_HEADS,
            "max_position_embeddings": MAX_LENGTH, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            # MiniCPM-4's LongRoPE: one factor per rotary frequency (head_dim / 2); at
            # max_position_embeddings == original the scaling is 1.
            "rope_scaling": {"type": "longrope", "long_factor": [1.0] * (HEAD_DIM // 2),
                             "short_factor": [1.0] * (HEAD_DIM // 2),
                             "original_max_position_embeddings": MAX_LENGTH},
            "use_mup": False, "scale_emb": 12, "dim_model_base": 256, "scale_depth": 1.4,
        },
        "patch_size": 2,
        "feat_dim": LATENT_DIM,
        "residual_lm_num_layers": 1,
        "scalar_quantization_latent_dim": 16,
        "scalar_quantization_scale": 9,
        "encoder_config": block,
        "dit_config": {**block, "cfm_config": {"sigma_min": 1e-6, "solver": "euler", "t_scheduler": "log-norm",
                                               "inference_cfg_rate": 2.0}},
        "audio_vae_config": {"encoder_dim": 8, "encoder_rates": [2, 5, 8, 8], "latent_dim": LATENT_DIM,
                             "decoder_dim": 32, "decoder_rates": [8, 8, 5, 2], "depthwise": True,
                             "sample_rate": 16000, "use_noise_block": False},
        "max_length": MAX_LENGTH,
        "device": "cuda",  # what the released configs say; the engine passes its device
        "dtype": "float32",
    }
    if architecture == "voxcpm2":
        config["patch_size"] = 4
        config["residual_lm_no_rope"] = False
        config["dit_config"]["dit_mean_mode"] = False
        # 640 samples per latent in at 16 kHz, 1920 out at 48 kHz (8·6·5·2·2·2), as VoxCPM2.
        # Six upsampling stages halve the channels six times: 64 leaves one.
        config["audio_vae_config"].update({"decoder_dim": 64, "decoder_rates": [8, 6, 5, 2, 2, 2], "out_sample_rate": 48000,
                                           "cond_dim": 16})
    return config


def write_tiny_voxcpm(dest: Path, *, seed: int = 0, architecture: str = "voxcpm") -> Path:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown VoxCPM architecture {architecture!r}; choose one of {ARCHITECTURES}")
    package, vae_class = (v2, AudioVAEV2) if architecture == "voxcpm2" else (v1, AudioVAE)
    model_class = package.VoxCPM2Model if architecture == "voxcpm2" else package.VoxCPMModel
    tokenizer = tiny_tokenizer()
    config_dict = tiny_config(len(tokenizer), architecture)
    config = package.VoxCPMConfig.model_validate(config_dict)  # the package's own schema
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = vae_class(config=config.audio_vae_config)
        model = model_class(config, tokenizer, vae, device="cpu")
        with torch.no_grad():
            # Never "stop": a random stop head would end each sentence at a random length.
            model.stop_head.weight.zero_()

    def write(tmp: Path) -> Path:
        tokenizer.save_pretrained(tmp)
        (tmp / "config.json").write_text(json.dumps(config_dict, indent=2) + "\n", encoding="utf-8")
        state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.startswith("audio_vae.")}
        save_file(state, str(tmp / "model.safetensors"))
        save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(tmp / "audiovae.safetensors"))
        # Read back with the package's loader: what it cannot load is never moved into place.
        LlamaTokenizerFast.from_pretrained(str(tmp))
        loaded = model_class.from_local(str(tmp), optimize=False, device="cpu")
        assert sorted(loaded.state_dict()) == sorted(model.state_dict())
        (tmp / MARKER).write_text(json.dumps({"seed": seed, "kind": f"tiny random VoxCPM ({architecture} architecture)",
                                              "parameters": sum(p.numel() for p in model.parameters())}) + "\n")
        return tmp

    return _write_into_place(Path(dest), write)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the tiny VoxCPM (run in the voxcpm engine environment).")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="voxcpm")
    args = parser.parse_args()
    print(f"wrote {write_tiny_voxcpm(args.dest, seed=args.seed, architecture=args.architecture)}")


if __name__ == "__main__":
    main()
