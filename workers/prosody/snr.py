"""Signal-to-noise ratio of one utterance: WADA-SNR (Kim & Stern 2008).

Clean speech amplitudes follow a Gamma distribution of shape about 0.4; adding Gaussian
noise makes the amplitude distribution less peaked. The statistic
``G = ln(mean|x|) - mean(ln|x|)`` falls monotonically with the noise share, so a table of
G against SNR for Gamma(0.4)-distributed speech plus Gaussian noise turns G back into an
SNR. Unlike a "loud frames over quiet frames" estimate it needs no pause in the recording
(a continuous clean recording has no noise floor to find) and is not fooled by a noise
floor that fills the pauses (white noise at 15 dB makes the pauses as loud as the noise).

The table is computed here from its definition (Monte Carlo, fixed seed) rather than
copied; it is cached once per process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

GAMMA_SHAPE = 0.4  # Kim & Stern's fit to clean speech amplitudes
TABLE_SNR_DB = np.arange(-20.0, 61.0, 1.0)
TABLE_SAMPLES = 200_000
EPS = 1e-10


def _g_statistic(x: np.ndarray) -> float:
    a = np.maximum(np.abs(x), EPS)
    return float(np.log(np.mean(a)) - np.mean(np.log(a)))


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    """(G values, SNR dB) for Gamma(0.4) speech of unit power plus Gaussian noise; G falls
    as the SNR falls, so the table is sorted by G for interpolation."""
    rng = np.random.default_rng(20080901)
    speech = rng.gamma(GAMMA_SHAPE, 1.0, TABLE_SAMPLES) * rng.choice([-1.0, 1.0], TABLE_SAMPLES)
    speech /= np.sqrt(np.mean(speech**2))
    noise = rng.normal(0.0, 1.0, TABLE_SAMPLES)
    g = np.array([_g_statistic(speech + noise * 10 ** (-snr / 20)) for snr in TABLE_SNR_DB])
    order = np.argsort(g)
    return g[order], TABLE_SNR_DB[order]


def wada_snr_db(x: np.ndarray) -> float:
    """Estimated SNR (dB) of the whole recording, clamped to the table's -20..60 dB.

    Digital silence (exact zeros, e.g. padding a VAD added) carries no noise and is left
    out: it would make the distribution look more peaked than the speech is."""
    x = np.asarray(x, dtype=np.float64)
    x = x[x != 0.0]
    if x.size < 1000:
        return float(TABLE_SNR_DB[0])
    g_table, snr_table = _table()
    return float(np.interp(_g_statistic(x / np.max(np.abs(x))), g_table, snr_table))
