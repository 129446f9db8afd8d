"""The cpu layout (capacity/cpu_*.py) and its check against the voice-to-voice benchmark.

Pure computation on docs/benchmarks.md as it stands: no services, no models (one test builds the
random Qwen's tokenizer, the same way ``avatar models random`` does, to count prompt tokens).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

import api.audio_stream
import bench.voice
import models.real_size
from avatar.settings import Settings
from bench.engines import QUESTION
from capacity import check as simulator_check
from capacity.bench_doc import BENCHMARKS, BenchDocError, Cell
from capacity.cpu_box import Cores, run_level
from capacity.cpu_derived import CpuModel
from capacity.cpu_figures import STAND_IN_REPLY, STAND_IN_TRANSCRIPT, cpu_inputs, turns_per_level
from capacity.event_loop import Sim, percentile
from capacity.figures import KINDS

ROOT = Path(__file__).resolve().parents[2]


def _model(**values: float) -> CpuModel:
    """The cpu layout on today's rows, with some inputs replaced."""
    inputs = cpu_inputs()
    for name, value in values.items():
        inputs[name] = dataclasses.replace(inputs[name], value=value)
    return CpuModel(inputs)


def _steady(**values: float) -> CpuModel:
    """No spread around the medians, no partial transcripts, no prosody job: one turn's path alone."""
    x = cpu_inputs()
    return _model(llm_ttft_1_p95_s=x["llm_ttft_1_s"].value, llm_tok_s_1_slow=x["llm_tok_s_1"].value,
                  asr_5s_p95_s=x["asr_5s_s"].value, lite_50_chars_p95_s=x["lite_50_chars_s"].value,
                  partial_interval_s=1e6, prosody_cpu_s=0.0, **values)


def test_every_input_has_a_kind_and_a_source_and_the_engines_come_from_their_rows() -> None:
    headings = [line[3:] for line in BENCHMARKS.read_text().splitlines() if line.startswith("## ")]
    inputs = cpu_inputs()
    for name, i in inputs.items():
        assert i.kind in KINDS and len(i.source.split()) >= 3, (name, i)
        if i.kind == "published":
            assert "https://" in i.source, name
        if i.kind == "measured-here":
            section = i.source.split(", ")[1]
            assert i.source.startswith("docs/benchmarks.md, ") and any(h.startswith(section) for h in headings), name
    # every engine speed is measured here; none of them is read from the voice-to-voice section it is checked on
    engines = [n for n in inputs if n.startswith(("llm_ttft", "llm_tok", "asr_2s", "asr_5s", "asr_10s", "lite_"))]
    assert engines and all(inputs[n].kind == "measured-here" and "Voice to voice" not in inputs[n].source
                           for n in engines)


def test_the_mirrored_set_up_matches_the_benchmark() -> None:
    x = {name: i.value for name, i in cpu_inputs().items()}
    assert x["partial_min_speech_s"] * 1000 == api.audio_stream.PARTIAL_MIN_SPEECH_MS
    assert x["frame_s"] * 1000 == bench.voice.FRAME_MS and x["silence_after_s"] == bench.voice.SILENCE_AFTER_S
    assert x["lead_s"] == bench.voice.LEAD_S
    assert x["reply_tokens"] == models.real_size.REPLY_TOKENS
    assert x["asr_tokens_per_s"] == models.real_size.ASR_TOKENS_PER_S
    assert (STAND_IN_REPLY, STAND_IN_TRANSCRIPT) == (models.real_size.STAND_IN_REPLY, models.real_size.STAND_IN_TRANSCRIPT)


def test_the_prompt_token_counts_are_the_random_qwens_tokenizers() -> None:
    from models.tiny import _build_tiny_tokenizer

    # as models.tiny.make_random_qwen2 builds it for a real-size Qwen2.5 (its vocabulary padded)
    tokenizer = _build_tiny_tokenizer(vocab_size=2000, pad_to=models.real_size.QWEN25_VOCAB)
    model, system = _model(), Settings().system_prompt

    def count(*turns: str) -> int:
        roles = ["user", "assistant"] * len(turns)
        messages = [{"role": "system", "content": system}, *({"role": r, "content": t} for r, t in zip(roles, turns))]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return len(ids["input_ids"] if hasattr(ids, "keys") else ids)

    x = model.x
    assert count(QUESTION) == x["row_prompt_tokens"]
    assert count(model.transcript) == x["first_prompt_tokens"]
    assert count(model.transcript, model.reply, model.transcript) - count(model.transcript) == x["exchange_tokens"]


def test_a_missing_or_ambiguous_cell_is_an_error_that_names_it(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("## Speed here\n\nfirst table\n\n| model | s |\n| --- | ---: |\n| a | 1.5 |\n| a | 2.5 |\n"
                   "| b | 7.52 / 10.58 |\n")
    assert Cell("Speed", ("b",), "s").value(doc) == 7.52 and Cell("Speed", ("b",), "s", part=1).value(doc) == 10.58
    with pytest.raises(BenchDocError, match="2 row"):
        Cell("Speed", ("a",), "s").value(doc)
    with pytest.raises(BenchDocError, match="no row .'c'"):
        Cell("Speed", ("c",), "s").value(doc)
    with pytest.raises(BenchDocError, match="0 sections"):
        Cell("Elsewhere", ("a",), "s").value(doc)


def test_the_cores_are_shared_by_the_sharing_rule() -> None:
    model = _model()
    sim = Sim(1)
    cores = Cores(sim, model)
    ends: dict[str, float] = {}
    cores.run("prefill", [(1.0, lambda: ends.setdefault("a", sim.now))])
    cores.run("asr_final", [(50.0, lambda: ends.setdefault("b", sim.now))])  # outlasts the prefill
    sim.run()
    prefill, asr = model.speeds(["prefill", "asr_final"])
    assert prefill < 1 and asr < 1  # 4 threads on 2 cores
    assert ends["a"] == pytest.approx(1.0 / prefill)
    # once the prefill is done the ASR pass runs alone, at its own speed
    assert ends["b"] == pytest.approx(ends["a"] + (50.0 - ends["a"] * asr))
    sim.at(0.0, lambda: cores.run("decode", [(0.5, lambda: ends.setdefault("alone", sim.now))]))
    started = sim.now
    sim.run()
    assert ends["alone"] - started == pytest.approx(0.5)


def test_one_turn_alone_adds_up_to_its_engines_rows() -> None:
    model = _steady()
    (turn,) = run_level(model, sessions=1, turns_per_session=1).turns
    x, first = model.x, model.sentences[0]
    assert turn.vad == pytest.approx(x["vad_min_silence_s"] + x["frame_s"])
    assert turn.final - turn.vad == pytest.approx(model.asr_s(model.final_audio_s))
    assert turn.first_token - turn.final == pytest.approx(model.prefill_s(x["first_prompt_tokens"]))
    # lite speaks the first sentence while the reply goes on decoding: two jobs share the cores
    lite = model.lite_s(first.chars) / model.speeds(["decode", "lite"])[1]
    expected = (first.token - 1) * model.decode_s + lite + x["overhead_s"]
    assert turn.first_audio - turn.first_token == pytest.approx(expected)
    # the row's own prompt costs the row's TTFT; the first sentence is the chunker's cut of the stand-in reply
    assert model.prefill_s(x["row_prompt_tokens"]) == pytest.approx(x["llm_ttft_1_s"])
    assert STAND_IN_REPLY.startswith("".join(model.reply[: first.chars]))


def test_the_prompt_grows_with_the_sessions_history() -> None:
    model = _steady()
    turns = run_level(model, sessions=1, turns_per_session=6).turns
    llm = [t.first_token - t.final for t in turns]
    x = model.x
    assert llm == pytest.approx([model.prefill_s(x["first_prompt_tokens"] + k * x["exchange_tokens"]) for k in range(6)])
    assert all(b > a for a, b in zip(llm, llm[1:]))


def test_more_sessions_share_the_cores_and_queue_for_the_llm_lane() -> None:
    model = _model()
    alone, five = run_level(model, 1, 4), run_level(model, 5, 4)
    assert len(five.turns) == 20 and len(alone.turns) == 4
    first_audio = lambda level: percentile([t.first_audio for t in level.turns], 50)  # noqa: E731
    assert first_audio(five) > 2 * first_audio(alone)
    assert max(t.llm_wait for t in five.turns) > 0 == max(t.llm_wait for t in alone.turns)
    # the same work on more sessions takes longer per session but gets more turns per second done
    assert len(five.turns) / five.wall_s > len(alone.turns) / alone.wall_s


def test_the_check_reads_the_voice_table_and_judges_each_level_at_20_percent() -> None:
    levels = simulator_check.check()
    assert [c.sessions for c in levels] == [1, 3, 5]
    for c in levels:
        column = f"{c.sessions} session{'s' if c.sessions > 1 else ''} median / P95"
        assert c.measured[1] == Cell("Voice to voice", (simulator_check.JUDGED,), column, part=1).value()
        assert c.turns == turns_per_level()[c.sessions]
        assert c.error == pytest.approx(c.predicted[1] / c.measured[1] - 1)
        assert c.within == (abs(c.error) <= 0.2)
        assert c.predicted_p95_range[0] <= c.predicted[1] <= c.predicted_p95_range[1]
    table = simulator_check.render_markdown(levels)
    verdict = "PASS" if all(c.within for c in levels) else "FAIL"
    assert f"every level: {verdict}**" in table
    good = dataclasses.replace(levels[0], predicted=(1.0, levels[0].measured[1] * 1.19))
    bad = dataclasses.replace(levels[0], predicted=(1.0, levels[0].measured[1] * 0.79))
    assert good.within and not bad.within
    assert "every level: PASS**" in simulator_check.render_markdown([good])
    assert "every level: FAIL**" in simulator_check.render_markdown([good, bad])
    assert not math.isnan(levels[-1].predicted_turns_s)
