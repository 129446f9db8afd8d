"""CosyVoice 2's two ONNX front ends at their released sizes, random weights (the real-size
random CosyVoice2-0.5B of :mod:`models.tiny_cosyvoice`; written in the ``cosyvoice`` engine
environment by :mod:`models.tiny_cosyvoice_writer`).

The released files are exported graphs with no Python package of ours to build them from, so
the networks are written here from their published descriptions, in PyTorch, and exported with
``torch.onnx.export`` under the input and output signatures CosyVoice's front end feeds
(``cosyvoice/cli/frontend.py``):

- ``speech_tokenizer_v2.onnx``: the S3 tokenizer v2 (CosyVoice 2 paper, section 2.2): two
  stride-2 convolutions over a 128-bin Whisper log-mel, six transformer blocks of width 1280
  (20 heads, MLP 5120) whose attention carries an FSMN memory (a depthwise convolution of
  kernel 31 over the values), and a finite-scalar quantiser (8 dimensions, 3 levels: 6561
  codes), 25 tokens a second. 123,714,568 parameters, the count of ``s3tokenizer``'s
  ``S3TokenizerV2`` (a reimplementation loaded from the released file). Left out, because it
  has no parameters and costs a few element-wise operations: the rotary position encoding.
- ``campplus.onnx``: CAM++ (Wang et al. 2023, 3D-Speaker's ``CAMPPlus``: 80-bin fbank in, a
  192-dim speaker embedding out): a 2-D convolutional head, a densely connected TDNN of
  12/24/16 context-aware-masking layers (growth 32) with transit layers, statistics pooling and
  a dense layer; 3D-Speaker publishes 7.2 M parameters.

Random weights cost what trained ones cost: these graphs do the released front ends' work for
a prompt of the same length (their outputs are noise, as every random model's are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

S3_WIDTH, S3_HEADS, S3_LAYERS, S3_MELS, S3_FSMN_KERNEL = 1280, 20, 6, 128, 31
FSQ_DIMS, FSQ_LEVELS = 8, 3
CAMPPLUS_FBANK, CAMPPLUS_EMBEDDING = 80, 192
OPSET = 17


class _FSMNBlock(nn.Module):
    def __init__(self, width: int, heads: int, kernel: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_ln = nn.LayerNorm(width)
        self.query, self.key = nn.Linear(width, width), nn.Linear(width, width, bias=False)
        self.value, self.out = nn.Linear(width, width), nn.Linear(width, width)
        self.fsmn = nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width, bias=False)
        self.mlp_ln = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.attn_ln(x)
        b, t, d = h.shape
        q, k, v = (p(h).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.query, self.key, self.value))
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        values = v.transpose(1, 2).reshape(b, t, d) * mask
        memory = self.fsmn(values.transpose(1, 2)).transpose(1, 2) + values
        x = x + self.out(attended) + memory * mask
        return x + self.mlp(self.mlp_ln(x))


class SpeechTokenizerV2(nn.Module):
    """(1, 128, T) log-mel and its length → (1, T/4) token ids in [0, 3**8)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(S3_MELS, S3_WIDTH, 3, stride=2, padding=1)
        self.conv2 = nn.Conv1d(S3_WIDTH, S3_WIDTH, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList(_FSMNBlock(S3_WIDTH, S3_HEADS, S3_FSMN_KERNEL) for _ in range(S3_LAYERS))
        self.project_down = nn.Linear(S3_WIDTH, FSQ_DIMS)
        self.register_buffer("powers", FSQ_LEVELS ** torch.arange(FSQ_DIMS, dtype=torch.float32), persistent=False)

    def forward(self, feats: torch.Tensor, feats_length: torch.Tensor) -> torch.Tensor:
        frames = torch.arange(feats.shape[2], device=feats.device)
        feats = feats * (frames < feats_length.unsqueeze(1)).unsqueeze(1).to(feats.dtype)
        x = F.gelu(self.conv2(F.gelu(self.conv1(feats)))).transpose(1, 2)  # (1, T/4, width)
        mask = torch.ones_like(x[:, :, :1])
        for block in self.blocks:
            x = block(x, mask)
        digits = torch.round(torch.tanh(self.project_down(x)) * 0.999) + 1  # {0, 1, 2} per dimension
        return (digits * self.powers).sum(-1).to(torch.int32)


class _ResBlock2d(nn.Module):
    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = (nn.Sequential(nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False),
                                       nn.BatchNorm2d(channels)) if stride != 1 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


class _CAMLayer(nn.Module):
    """A dense TDNN layer: bottleneck, then a convolution masked by its context (the
    utterance's and its 100-frame segment's mean)."""

    def __init__(self, channels: int, growth: int, bottleneck: int, dilation: int, segment: int = 100) -> None:
        super().__init__()
        self.segment = segment
        self.bn1, self.linear1 = nn.BatchNorm1d(channels), nn.Conv1d(channels, bottleneck, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(bottleneck)
        self.local = nn.Conv1d(bottleneck, growth, 3, padding=dilation, dilation=dilation, bias=False)
        self.context1 = nn.Conv1d(bottleneck, bottleneck // 2, 1)
        self.context2 = nn.Conv1d(bottleneck // 2, growth, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn2(self.linear1(F.relu(self.bn1(x)))))
        frames = h.shape[-1]
        segments = F.avg_pool1d(h, self.segment, self.segment, ceil_mode=True)
        per_frame = segments.repeat_interleave(self.segment, dim=-1)[..., :frames]
        context = h.mean(-1, keepdim=True) + per_frame
        mask = torch.sigmoid(self.context2(F.relu(self.context1(context))))
        return torch.cat([x, self.local(h) * mask], dim=1)


class CAMPPlus(nn.Module):
    """(1, T, 80) fbank → (1, 192) speaker embedding."""

    def __init__(self, growth: int = 32, head: int = 32, channels: int = 128,
                 blocks: tuple[tuple[int, int], ...] = ((12, 1), (24, 2), (16, 2))) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(1, head, 3, padding=1, bias=False), nn.BatchNorm2d(head), nn.ReLU(),
                                  _ResBlock2d(head, 2), _ResBlock2d(head, 1), _ResBlock2d(head, 2), _ResBlock2d(head, 1),
                                  nn.Conv2d(head, head, 3, stride=(2, 1), padding=1, bias=False), nn.BatchNorm2d(head),
                                  nn.ReLU())
        layers: list[nn.Module] = [nn.Conv1d(head * CAMPPLUS_FBANK // 8, channels, 5, stride=2, padding=2, bias=False),
                                   nn.BatchNorm1d(channels), nn.ReLU()]
        for count, dilation in blocks:
            for _ in range(count):
                layers.append(_CAMLayer(channels, growth, 4 * growth, dilation))
                channels += growth
            layers += [nn.BatchNorm1d(channels), nn.ReLU(), nn.Conv1d(channels, channels // 2, 1, bias=False)]
            channels //= 2
        self.tdnn = nn.Sequential(*layers, nn.BatchNorm1d(channels), nn.ReLU())
        self.dense = nn.Conv1d(2 * channels, CAMPPLUS_EMBEDDING, 1, bias=False)
        self.dense_bn = nn.BatchNorm1d(CAMPPLUS_EMBEDDING, affine=False)

    def forward(self, fbank: torch.Tensor) -> torch.Tensor:
        x = self.head(fbank.transpose(1, 2).unsqueeze(1))  # (1, head, 80/8, T)
        x = self.tdnn(x.flatten(1, 2))
        stats = torch.cat([x.mean(-1, keepdim=True), x.std(-1, keepdim=True)], dim=1)  # (1, 2 channels, 1)
        return self.dense_bn(self.dense(stats)).flatten(1)


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _export(module: nn.Module, args: tuple[Any, ...], path: Path, inputs: list[str], output: str,
            axes: dict[str, dict[int, str]]) -> None:
    import onnx  # noqa: F401 - the exporter needs it; fail here with the name if it is missing

    torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=[output],
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    _check(module, path, inputs)


def _check(module: nn.Module, path: Path, inputs: list[str]) -> None:
    """The graph loads in onnxruntime (as CosyVoice's front end opens it) and gives the module's
    output shape at a length other than the one it was traced at."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if inputs[0] == "feats":
        args = (torch.randn(1, S3_MELS, 333), torch.tensor([333], dtype=torch.int32))
    else:
        args = (torch.randn(1, 457, CAMPPLUS_FBANK),)
    got = session.run(None, {name: a.numpy() for name, a in zip(inputs, args)})[0]
    with torch.inference_mode():
        want = module(*args)
    if tuple(got.shape) != tuple(want.shape):
        raise RuntimeError(f"{path.name}: onnxruntime gives shape {got.shape}, the module {tuple(want.shape)}")


def _seeded(build: type[nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def write_speech_tokenizer_v2(path: Path, seed: int = 0) -> int:
    """Write the random S3 tokenizer v2 graph; its parameter count."""
    model = _seeded(SpeechTokenizerV2, seed)
    feats = torch.zeros(1, S3_MELS, 200)
    _export(model, (feats, torch.tensor([200], dtype=torch.int32)), path, ["feats", "feats_length"], "indices",
            {"feats": {2: "T"}, "indices": {1: "N"}})
    return parameters(model)


def write_campplus(path: Path, seed: int = 0) -> int:
    """Write the random CAM++ graph; its parameter count."""
    model = _seeded(CAMPPlus, seed)
    _export(model, (torch.zeros(1, 300, CAMPPLUS_FBANK),), path, ["input"], "output", {"input": {1: "T"}})
    return parameters(model)
