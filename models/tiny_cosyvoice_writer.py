"""Writes the tiny random CosyVoice 2 folder (:mod:`models.tiny_cosyvoice` says what is in it).

Runs inside the ``cosyvoice`` engine environment: it builds the model from the package's own
classes (torch, ``cosyvoice``, ``onnx``). ``python -m models.tiny_cosyvoice_writer DEST [--seed N]
[--real-size]`` (``--real-size``: CosyVoice2-0.5B's released dimensions, :data:`REAL_DIMS`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from models.cosyvoice_frontends import write_campplus, write_speech_tokenizer_v2
from models.real_size import QWEN25_05B
from models.tiny import TINY_CORPUS, _write_into_place
from models.tiny_cosyvoice import (
    BLANK_EN, BLANK_EN_ROWS, MARKER, QWEN_TOKENIZER_EXTRA_SPECIALS, RANDOM_MARKER, REAL_DIMS, SPEAKER_DIM,
    SPECIAL_TOKENS, SPEECH_TOKEN_DIMS, SPEECH_TOKEN_LEVELS, SPEECH_TOKEN_SIZE, STOP_BIAS, TINY_DIMS,
)

# The HyperPyYAML the CosyVoice2 class loads (the released model's keys that inference reads),
# at the dimensions given (TINY_DIMS or REAL_DIMS). `qwen_pretrain_path` is overridden by the class with <model_dir>/CosyVoice-BlankEN.
HEADER_YAML = """\
# {what} CosyVoice 2 (models/tiny_cosyvoice.py): real classes, random weights.
sample_rate: 24000
llm_input_size: {llm_width}
llm_output_size: {llm_width}
spk_embed_dim: {speaker_dim}
qwen_pretrain_path: ''
token_frame_rate: 25
token_mel_ratio: 2
chunk_size: 25
num_decoding_left_chunks: -1

"""
LLM_YAML = """\
llm: !new:cosyvoice.llm.llm.Qwen2LM
    llm_input_size: !ref <llm_input_size>
    llm_output_size: !ref <llm_output_size>
    speech_token_size: {speech_tokens}
    length_normalized_loss: True
    lsm_weight: 0
    mix_ratio: [5, 15]
    llm: !new:cosyvoice.llm.llm.Qwen2Encoder
        pretrain_path: !ref <qwen_pretrain_path>
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1

"""
ACOUSTIC_YAML = """\
flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec
    input_size: 512
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: {speech_tokens}
    input_frame_rate: !ref <token_frame_rate>
    only_mask_loss: True
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    encoder: !new:cosyvoice.transformer.upsample_encoder.UpsampleConformerEncoder
        output_size: 512
        attention_heads: {encoder_heads}
        linear_units: {encoder_units}
        num_blocks: {encoder_blocks}
        dropout_rate: 0.0
        positional_dropout_rate: 0.0
        attention_dropout_rate: 0.0
        normalize_before: True
        input_layer: 'linear'
        pos_enc_layer_type: 'rel_pos_espnet'
        selfattention_layer_type: 'rel_selfattn'
        input_size: 512
        use_cnn_module: False
        macaron_style: False
        static_chunk_size: !ref <chunk_size>
    decoder: !new:cosyvoice.flow.flow_matching.CausalConditionalCFM
        in_channels: 240
        n_spks: 1
        spk_emb_dim: 80
        cfm_params: !new:omegaconf.DictConfig
            content:
                sigma_min: 1e-06
                solver: 'euler'
                t_scheduler: 'cosine'
                training_cfg_rate: 0.2
                inference_cfg_rate: 0.7
                reg_loss_type: 'l1'
        estimator: !new:cosyvoice.flow.decoder.CausalConditionalDecoder
            in_channels: 320
            out_channels: 80
            channels: [{decoder_channels}]
            dropout: 0.0
            attention_head_dim: {decoder_head_dim}
            n_blocks: {decoder_blocks}
            num_mid_blocks: {decoder_mid_blocks}
            num_heads: {decoder_heads}
            act_fn: 'gelu'
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
            num_decoding_left_chunks: !ref <num_decoding_left_chunks>

hift: !new:cosyvoice.hifigan.generator.HiFTGenerator
    in_channels: 80
    base_channels: {hift_channels}
    nb_harmonics: 8
    sampling_rate: !ref <sample_rate>
    nsf_alpha: 0.1
    nsf_sigma: 0.003
    nsf_voiced_threshold: 10
    upsample_rates: [8, 5, 3]
    upsample_kernel_sizes: [16, 11, 7]
    istft_params:
        n_fft: 16
        hop_len: 4
    resblock_kernel_sizes: [3, 7, 11]
    resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    source_resblock_kernel_sizes: [7, 7, 11]
    source_resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    lrelu_slope: 0.1
    audio_limit: 0.99
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor
        num_class: 1
        in_channels: 80
        cond_channels: {hift_channels}

"""
FRONT_END_YAML = """\
get_tokenizer: !name:cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer
    token_path: !ref <qwen_pretrain_path>
    skip_special_tokens: True
allowed_special: 'all'
feat_extractor: !name:matcha.utils.audio.mel_spectrogram
    n_fft: 1920
    num_mels: 80
    sampling_rate: !ref <sample_rate>
    hop_size: 480
    win_size: 1920
    fmin: 0
    fmax: 8000
    center: False
"""
CONFIG_YAML = HEADER_YAML + LLM_YAML + ACOUSTIC_YAML + FRONT_END_YAML


def _tokenizer() -> Any:
    """A byte-level BPE trained on the project's tiny zh-TW corpus, as a Qwen2 fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(TINY_CORPUS.splitlines(), trainer=trainer)
    return Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                              unk_token=None, bos_token=None, model_max_length=4096)


def _write_blank_qwen2(folder: Path, real_size: bool) -> None:
    """The Qwen2 inside the LLM (the released model ships it as CosyVoice-BlankEN): tiny, or
    Qwen2.5-0.5B's dimensions and embedding rows (the tokenizer stays the small one: only the
    text's embedding rows are read, and the Qwen2's own output head is never used)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM


    tokenizer = _tokenizer()
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    if real_size:
        dims = {**QWEN25_05B, "vocab_size": BLANK_EN_ROWS}
    else:
        room = len(tokenizer) + QWEN_TOKENIZER_EXTRA_SPECIALS
        dims = {"vocab_size": -(-room // 64) * 64, "hidden_size": TINY_DIMS["llm_width"],
                "intermediate_size": 2 * TINY_DIMS["llm_width"], "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "max_position_embeddings": 4096, "max_window_layers": 2,
                "tie_word_embeddings": True}
    config = Qwen2Config(**dims, use_sliding_window=False, bos_token_id=eos, eos_token_id=eos)
    model = Qwen2ForCausalLM(config).eval()
    # bf16 on disk as released (CosyVoice loads it in float32 and then llm.pt over it); tiny stays float32
    (model.to(torch.bfloat16) if real_size else model).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def _write_campplus(path: Path, rng: Any) -> None:
    """Speaker embedding: mean over time of the fbank frames, then a random projection."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array((rng.standard_normal((80, SPEAKER_DIM)) * 0.1).astype(np.float32), "proj")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[1], keepdims=0),
         helper.make_node("MatMul", ["pooled", "proj"], ["output"])],
        "tiny_campplus",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "T", 80])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, SPEAKER_DIM])],
        initializer=[weight],
    )
    _save_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path, onnx)


def _write_speech_tokenizer(path: Path, rng: Any) -> None:
    """Speech tokens: a stride-4 convolution to FSQ dimensions, each rounded to {-1, 0, 1},
    combined into one id in [0, levels**dims) (the S3 tokenizer v2's scheme, 25 tokens/s)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    conv = (rng.standard_normal((SPEECH_TOKEN_DIMS, 128, 4)) * 0.05).astype(np.float32)
    powers = np.array([[SPEECH_TOKEN_LEVELS**i] for i in range(SPEECH_TOKEN_DIMS)], np.float32)
    initializers = [numpy_helper.from_array(conv, "conv"), numpy_helper.from_array(powers, "powers"),
                    numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    nodes = [
        helper.make_node("Conv", ["feats", "conv"], ["projected"], strides=[4], kernel_shape=[4]),
        helper.make_node("Tanh", ["projected"], ["bounded"]),
        helper.make_node("Round", ["bounded"], ["levels"]),  # {-1, 0, 1}
        helper.make_node("Add", ["levels", "one"], ["digits"]),  # {0, 1, 2}
        helper.make_node("Transpose", ["digits"], ["frames"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["frames", "powers"], ["index"]),  # (1, T/4, 1)
        helper.make_node("Squeeze", ["index", "last"], ["flat"]),
        helper.make_node("Cast", ["flat"], ["indices"], to=TensorProto.INT32),
    ]
    initializers.append(numpy_helper.from_array(np.array([2], np.int64), "last"))
    graph = helper.make_graph(
        nodes, "tiny_speech_tokenizer_v2",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, 128, "T"]),
         helper.make_tensor_value_info("feats_length", TensorProto.INT32, [1])],
        [helper.make_tensor_value_info("indices", TensorProto.INT32, [1, "N"])],
        initializer=initializers,
    )
    _save_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path, onnx)


def _save_onnx(model: Any, path: Path, onnx: Any) -> None:
    model.ir_version = 8  # readable by every onnxruntime the package supports
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build(dest: Path, *, seed: int = 0, real_size: bool = False) -> Path:
    """Build the folder in this interpreter (it needs torch, cosyvoice and onnx)."""
    import numpy as np
    import torch
    from hyperpyyaml import load_hyperpyyaml

    dims = REAL_DIMS if real_size else TINY_DIMS

    def write(tmp: Path) -> Path:
        with torch.random.fork_rng(devices=[]):  # seeded weights, the caller's RNG untouched
            torch.manual_seed(seed)
            _write_blank_qwen2(tmp / BLANK_EN, real_size)
            (tmp / "cosyvoice2.yaml").write_text(CONFIG_YAML.format(
                what="Real-size random" if real_size else "Tiny random", speaker_dim=SPEAKER_DIM, **dims))
            with open(tmp / "cosyvoice2.yaml") as f:
                configs = load_hyperpyyaml(f, overrides={"qwen_pretrain_path": str(tmp / BLANK_EN)})
            llm = configs["llm"]
            if not real_size:  # a real-size one's length is fixed by the engine (RandomWeights)
                with torch.no_grad():
                    llm.llm_decoder.bias[SPEECH_TOKEN_SIZE] += STOP_BIAS
            counts = {}
            for name, module in (("llm.pt", llm), ("flow.pt", configs["flow"]), ("hift.pt", configs["hift"])):
                state = module.state_dict()
                torch.save(state, tmp / name)
                counts[name] = sum(t.numel() for t in state.values() if t.is_floating_point())
            del configs, llm
        rng = np.random.default_rng(seed)
        if real_size:
            counts["campplus.onnx"] = write_campplus(tmp / "campplus.onnx", seed)
            counts["speech_tokenizer_v2.onnx"] = write_speech_tokenizer_v2(tmp / "speech_tokenizer_v2.onnx", seed)
        else:
            _write_campplus(tmp / "campplus.onnx", rng)
            _write_speech_tokenizer(tmp / "speech_tokenizer_v2.onnx", rng)
        (tmp / (RANDOM_MARKER if real_size else MARKER)).write_text(json.dumps({
            "what": ("random weights, real size: CosyVoice2-0.5B (models/tiny_cosyvoice.py REAL_DIMS)" if real_size
                     else "tiny random CosyVoice 2 (models/tiny_cosyvoice.py): real architecture, random weights"),
            "seed": seed, "dims": dims, "parameters": counts, "torch": torch.__version__,
        }, indent=2) + "\n")
        return tmp

    return _write_into_place(Path(dest), write)


def count_parameters() -> dict[str, int]:
    """Each real-size checkpoint's parameter count, as its state dict holds them (llm.pt
    counts the Qwen2's tied output head again), without writing or loading any weights: the
    flow and HiFT built from this config's own blocks, the LLM's Qwen2 on PyTorch's meta device."""
    import torch
    from hyperpyyaml import load_hyperpyyaml
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from cosyvoice.llm.llm import Qwen2LM

    dims = REAL_DIMS
    acoustic = load_hyperpyyaml((HEADER_YAML + ACOUSTIC_YAML).format(what="", speaker_dim=SPEAKER_DIM, **dims))

    class Encoder(torch.nn.Module):  # Qwen2Encoder's layout (its constructor would load a folder)
        def __init__(self) -> None:
            super().__init__()
            self.model = Qwen2ForCausalLM(Qwen2Config(**QWEN25_05B, vocab_size=BLANK_EN_ROWS))

    with torch.device("meta"):
        llm = Qwen2LM(dims["llm_width"], dims["llm_width"], dims["speech_tokens"], Encoder(), sampling=None)

    def count(module: Any) -> int:
        return sum(t.numel() for t in module.state_dict(keep_vars=True).values() if t.is_floating_point())

    return {"llm.pt": count(llm), "flow.pt": count(acoustic["flow"]), "hift.pt": count(acoustic["hift"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, nargs="?")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-size", action="store_true", help="CosyVoice2-0.5B's released dimensions")
    parser.add_argument("--count-parameters", action="store_true", help="print each real-size checkpoint's count")
    args = parser.parse_args(argv)
    if args.count_parameters:
        print(json.dumps(count_parameters()))
    elif args.dest is None:
        parser.error("DEST is required")
    else:
        print(build(args.dest, seed=args.seed, real_size=args.real_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
