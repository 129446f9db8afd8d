"""The parts of ``python -m bench.gpu`` that run inside an engine's own environment (its python
has that engine's packages and, on the GPU box, CUDA builds of them):

    python -m bench.gpu_measure build  --what llm|asr|f5|cosyvoice --dest DIR [--tiny] [--f5-python P]
    python -m bench.gpu_measure asr    --model DIR --device cuda --compute-type float16 --runs N
    python -m bench.gpu_measure f5     --models DIR --device cuda --nfe 16 --nfe 32 --runs N
    python -m bench.gpu_measure cosyvoice --model DIR --device cuda --runs N

Each measurement is the CPU benchmark's own (``bench.engines.measure_asr``, ``bench.f5_speed``)
with the device as a parameter, and ends with one JSON line ``{"result": ..., "torch_peak_mib": ...}``
(``torch.cuda.max_memory_allocated``; null on a CPU). Partial results are printed as they come,
so a step stopped by its time budget keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any


# Real-size random model (models.real_size) per part; the dry run's tiny stand-ins are the
# tiny-gpu profile's (models.tiny): the same formats, loaded by the same engines.
REAL_SIZE = {"llm": "qwen2.5-7b-instruct", "asr": "faster-whisper-large-v3-turbo", "f5": "f5-tts-v1-base",
             "cosyvoice": "cosyvoice2-0.5b"}


def _emit(kind: str, payload: Any) -> None:
    print(json.dumps({kind: payload, "torch_peak_mib": _torch_peak_mib()}), flush=True)


def _torch_peak_mib() -> float | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def build(what: str, dest: Path, tiny: bool, f5_python: Path | None, cosyvoice_python: Path | None) -> Path:
    from avatar.model_files import write_random_weights
    from models import tiny as tiny_models
    from models.real_size import RANDOM_MODELS
    from models.tiny_cosyvoice import make_random_cosyvoice2, make_tiny_cosyvoice2
    from models.tiny_f5 import F5_FOLDER, make_random_f5, make_tiny_f5

    if what == "cosyvoice":  # CosyVoice2-0.5B (CosyVoice 3 has no class in the cosyvoice env's package)
        if tiny:
            return make_tiny_cosyvoice2(dest, python=cosyvoice_python)
        folder = make_random_cosyvoice2(dest, python=cosyvoice_python)
        write_random_weights(folder, RANDOM_MODELS[REAL_SIZE[what]].stand_in)  # its fixed speech length
        return folder
    if what in ("llm", "asr"):
        model = RANDOM_MODELS[REAL_SIZE[what]]
        if not tiny:
            folder = model.build(dest)
        else:
            folder = tiny_models.make_tiny_vllm_qwen2(dest) if what == "llm" else tiny_models.make_tiny_whisper(dest)
        # The fixed lengths the engines read (RandomWeights): a random decoder's own would vary.
        write_random_weights(folder, model.stand_in)
        return folder
    if not tiny:
        return make_random_f5(dest, python=f5_python) or dest
    make_tiny_f5(dest / F5_FOLDER, python=f5_python)  # the random model's layout: f5-tts/ and vocos beside it
    return dest


def measure_cosyvoice(model: Path, device: str, runs: int) -> dict[str, Any]:
    """The RTF of one sentence as the tts_hq lane makes it (whole), then the streamed first clause
    of bench.cosyvoice_speed's reply: the first-chunk time (the whole reply's first chunk is its
    first clause's)."""
    from avatar.settings import Settings
    from bench.cosyvoice_speed import TEXT, one_run
    from bench.f5_speed import reference_voice, time_sentence
    from workers.engines.tts.cosyvoice import CosyVoiceTTS
    from workers.engines.tts.neural import split_sentences

    engine = CosyVoiceTTS(settings=Settings(cosyvoice_model_dir=str(model), tts_device=device))
    with tempfile.TemporaryDirectory() as tmp:
        voice = reference_voice(Path(tmp))
        engine.synthesize("你好。", voice=voice)  # load and warm up
        return time_sentence(engine, voice, runs) | {"stream": one_run(engine, voice, split_sentences(TEXT)[0])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_measure")
    sub = parser.add_subparsers(dest="part", required=True)
    b = sub.add_parser("build")
    b.add_argument("--what", choices=("llm", "asr", "f5", "cosyvoice"), required=True)
    b.add_argument("--dest", type=Path, required=True)
    b.add_argument("--tiny", action="store_true")
    b.add_argument("--f5-python", type=Path)
    b.add_argument("--cosyvoice-python", type=Path)
    for name in ("asr", "f5", "cosyvoice"):
        p = sub.add_parser(name)
        p.add_argument("--model" if name != "f5" else "--models", type=Path, required=True, dest="model")
        p.add_argument("--device", default="cpu")
        p.add_argument("--runs", type=int, default=3)
        if name == "asr":
            p.add_argument("--compute-type", default="")
            p.add_argument("--length", type=int, action="append", help="utterance seconds (repeat)")
        if name == "f5":
            p.add_argument("--nfe", type=int, action="append", required=True)
    args = parser.parse_args(argv)
    if args.part == "build":
        _emit("result", str(build(args.what, args.dest, args.tiny, args.f5_python, args.cosyvoice_python)))
    elif args.part == "asr":
        from bench.engines import UTTERANCE_S, measure_asr

        found: dict[str, Any] = {}
        for seconds in args.length or UTTERANCE_S:  # one length at a time: a cut-short step keeps the others
            found[str(seconds)] = measure_asr(args.model, args.runs, (seconds,), args.device, args.compute_type)[seconds]
            _emit("partial", found)
        _emit("result", found)
    elif args.part == "f5":
        from bench.f5_speed import measure, reference_voice

        with tempfile.TemporaryDirectory() as tmp:
            out = measure(args.model, args.nfe, args.runs, reference_voice(Path(tmp)), device=args.device,
                          emit=lambda so_far: _emit("partial", so_far))
        _emit("result", out)
    else:
        _emit("result", measure_cosyvoice(args.model, args.device, args.runs))


if __name__ == "__main__":
    main()
