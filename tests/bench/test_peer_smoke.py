"""The peer benchmark at a tiny scale: both systems for real (AVATAR's API and workers, Pipecat
in its own environment behind its websocket transport), real sockets, a written section; and
both splitters on the same replies.

Behaviour only: no timing assertions (this machine's load says nothing about the code). The
Pipecat environment is built first when it is not (``make test`` builds it beforehand)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from avatar.chunker import split_text
from bench.peer import AVATAR, PIPECAT, PeerConfig, run_peer
from bench.peer_profile import HOPS
from bench.peer_splitters import compare_splitters

BENCH_REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。"


def test_both_splitters_cut_the_same_replies_their_own_way() -> None:
    cuts = {c.label: c for c in compare_splitters(BENCH_REPLY, log=lambda _: None)}
    bench = cuts["benchmark reply"]
    # Both release the same first sentence, so both engines spend the same time before audio.
    assert bench.avatar[0] == bench.pipecat[0] == "好的，我來說明一下。"
    # Pipecat never cuts at "，": the second sentence waits for its "。" whole.
    assert bench.pipecat == ["好的，我來說明一下。", "今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。"]
    late = cuts["first 。 late"]
    assert len(late.pipecat[0]) > 40 and late.pipecat[0].endswith("。")
    assert len(late.avatar) > len(late.pipecat) and len(late.avatar[0]) <= 12
    # AVATAR keeps a number with its unit or measure word where its cut is forced.
    numbers = cuts["numbers with units"].avatar
    assert any(f.startswith("二十五度") for f in numbers) and any(f.startswith("314平方公分") for f in numbers)
    assert not any(f.endswith(("二十五", "314")) for f in numbers)
    for c in cuts.values():  # each splitter gives the whole reply back, in order
        assert "".join(c.avatar) == "".join(split_text(c.reply)).strip()
        assert "".join(c.pipecat).replace(" ", "") == c.reply


def test_a_tiny_run_writes_both_systems_rows_the_ratio_and_the_profile(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nkept as it is\n")
    config = PeerConfig(sessions=[1], turns=2, warmup_turns=1)
    report = run_peer(config, out, log=lambda _: None)

    for system in (AVATAR, PIPECAT):
        level = report.level(system, 1)
        assert level is not None and len(level.results) == 2 and not level.level.failures
        assert all(r.ttfa_ms > report.path.engine_ms * 0.9 for r in level.results)  # the engines' sleeps are in it
        assert math.isfinite(level.turns_per_s) and level.turns_per_s > 0
    assert math.isfinite(report.ratio(1, 50))
    rows = report.profile_rows(1)
    on_path = [r for r in rows if r.hop in HOPS]
    assert len(on_path) == len(HOPS)  # every hop was stamped
    ttfa = report.level(AVATAR, 1).ttfa(50)
    assert abs(sum(r.median_ms for r in on_path) - ttfa) < 0.5 * ttfa  # medians of hops ~ the median TTFA

    text = out.read_text()
    assert "kept as it is" in text
    section = text[text.index("<!-- bench:peer:start -->"): text.index("<!-- bench:peer:end -->")]
    assert re.search(r"^\| AVATAR \| 1 \| 2 \| 0 \|", section, re.M)
    assert re.search(r"^\| Pipecat \| 1 \| 2 \| 0 \|", section, re.M)
    assert re.search(r"\*\*Target: .*: (PASS|FAIL) \(measured [0-9.]+ at 1\)\.\*\*", section)
    assert "committed → reply_started" in section and "314平方公分" in section
    assert "### Machine" in section
