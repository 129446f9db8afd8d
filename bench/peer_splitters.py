"""Both systems' splitters on the same replies: AVATAR's ``split_text`` (its streaming
``SentenceChunker``, cut for cut) and Pipecat's own sentence aggregation, run in the Pipecat
environment by ``bench/peer_pipecat_split.py`` on the same two-character deltas."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from avatar.chunker import split_text
from bench.config import REPO

SPLIT_SCRIPT = REPO / "bench" / "peer_pipecat_split.py"

# Beside the benchmark reply: one whose first 。 comes late (Pipecat never cuts at ，, so its
# first sentence waits for the whole clause chain), and numbers right where a cut is forced.
EXTRA_REPLIES: tuple[tuple[str, str], ...] = (
    ("first 。 late",
     "今天的天氣非常適合出門走走，氣溫大約二十五度，陽光也不會太強，如果你打算去公園散步，記得帶水和帽子。另外傍晚可能會起風。"),
    ("numbers with units",
     "氣溫現在大約是二十五度左右，這塊地板面積總共是314平方公分，圓周率約3.14。"),
    ("a number at the forced cut",
     "這塊地板面積總共是314平方公分。"),
)


@dataclass(frozen=True)
class SplitterCuts:
    label: str
    reply: str
    avatar: list[str]
    pipecat: list[str]


def pipecat_cuts(replies: list[str], python: str) -> list[list[str]]:
    done = subprocess.run([python, str(SPLIT_SCRIPT)], input=json.dumps(replies), capture_output=True,
                          text=True, timeout=120, cwd="/", check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Pipecat's splitter failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def compare_splitters(bench_reply: str, log: Callable[[str], None] = print) -> list[SplitterCuts]:
    from bench.peer_client import pipecat_python

    labelled = [("benchmark reply", bench_reply), *EXTRA_REPLIES]
    replies = [reply for _, reply in labelled]
    theirs = pipecat_cuts(replies, str(pipecat_python(log)))
    return [SplitterCuts(label, reply, [f.strip() for f in split_text(reply) if f.strip()], cuts)
            for (label, reply), cuts in zip(labelled, theirs, strict=True)]
