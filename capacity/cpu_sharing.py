"""How the ``cpu`` layout's jobs share this machine's cores, from measured component figures.

A job of kind ``k`` runs ``threads`` threads and, alone, keeps ``busy`` cores busy (the CPU
seconds its process used over its seconds: docs/benchmarks.md's contention section), so its work
is its time alone x ``busy`` core-seconds. When jobs run at once on ``cores`` cores:

1. **Processor sharing by threads.** If their busy cores alone fit in the cores, each runs as
   alone. Otherwise the kernel's fair scheduler gives every runnable thread the same share
   ``s``: a job gets ``min(busy, threads x s)`` cores, ``s`` set so that every core is given out
   (water-filling: a job that needs less than its threads' share leaves the rest to the others).
   Its pace is what it gets over what it used alone.
2. **The efficiency of oversubscribed threads.** Threads that outnumber the cores lose part of
   what they get (torch's and CTranslate2's OpenMP threads spin at each parallel step's barrier
   while a partner waits for a core; the caches are shared). The pace is multiplied by
   ``efficiency(O)``, O = all running threads / cores: 1 at O <= 1, and at each O the
   contention mixes ran, the mean over the mixes of the job's measured speed over the speed
   rule 1 gives it in that mix; straight lines between, held beyond the heaviest mix.

Nothing here is fitted to the voice-to-voice results: every number is a row of the contention
benchmark (:func:`measured_efficiency` shows how each is derived) or a setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    threads: float
    busy: float  # cores kept busy alone
    efficiency: tuple[tuple[float, float], ...] = ()  # (oversubscription, efficiency), ascending


def allotted(jobs: Sequence[JobKind], cores: float) -> list[float]:
    """The cores each job gets (rule 1)."""
    if sum(j.busy for j in jobs) <= cores:
        return [j.busy for j in jobs]
    # Water-filling on the per-thread share: jobs capped at their busy cores drop out in the
    # order of busy / threads, the rest split what is left by threads.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].busy / jobs[i].threads)
    left, threads = cores, sum(j.threads for j in jobs)
    got = [0.0] * len(jobs)
    for n, i in enumerate(order):
        share = left / threads
        if jobs[i].busy <= jobs[i].threads * share:
            got[i] = jobs[i].busy
            left -= jobs[i].busy
            threads -= jobs[i].threads
            continue
        for k in order[n:]:
            got[k] = jobs[k].threads * share
        break
    return got


def sharing_speeds(jobs: Sequence[JobKind], cores: float) -> list[float]:
    """Each job's pace by rule 1 alone (1 = as alone)."""
    return [min(1.0, got / j.busy) for got, j in zip(allotted(jobs, cores), jobs)]


def oversubscription(jobs: Sequence[JobKind], cores: float) -> float:
    return sum(j.threads for j in jobs) / cores


def efficiency(kind: JobKind, over: float) -> float:
    """Rule 2's factor at oversubscription ``over``."""
    points = [(1.0, 1.0), *kind.efficiency]
    if over <= points[0][0]:
        return 1.0
    if over >= points[-1][0]:
        return points[-1][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if over <= x1:
            return y0 + (y1 - y0) * (over - x0) / (x1 - x0)
    return points[-1][1]


def speeds(jobs: Sequence[JobKind], cores: float) -> list[float]:
    """Each running job's pace (1 = as alone): rule 1 times rule 2."""
    over = oversubscription(jobs, cores)
    return [s * efficiency(j, over) for s, j in zip(sharing_speeds(jobs, cores), jobs)]


def measured_efficiency(me: JobKind, others: Sequence[JobKind], speed: float, cores: float) -> tuple[float, float]:
    """(oversubscription, efficiency) of one contention row: the job ``me`` ran beside
    ``others`` and its median was ``speed`` x its median alone; efficiency = that over rule 1's."""
    jobs = [me, *others]
    return oversubscription(jobs, cores), speed / sharing_speeds(jobs, cores)[0]


def efficiency_curve(rows: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """(oversubscription, efficiency) rows -> one point per oversubscription (their mean)."""
    by_over: dict[float, list[float]] = {}
    for over, e in rows:
        by_over.setdefault(round(over, 6), []).append(e)
    return tuple((over, sum(es) / len(es)) for over, es in sorted(by_over.items()))


__all__ = ["JobKind", "allotted", "efficiency", "efficiency_curve", "measured_efficiency", "oversubscription",
           "sharing_speeds", "speeds"]
