"""Rating fidelity: the simulated users' ratings of held-out items against the real ones, beside baselines.

On the same held-out (user, item) pairs:

* the simulated users' whole-star ratings: RMSE and MAE (what the event log holds);
* their expected ratings before rounding to a star: RMSE (what a rating model is
  usually compared on; whole stars add rounding error);
* three baselines fitted on the same training ratings (``rating_baselines``):
  the global mean, user + item biases, and a biased matrix factorisation; each an RMSE;
  and the biased MF rounded to whole stars (``biased_mf_stars``), the simulated users' scale;
* RMSE(simulated) - RMSE(biased MF), for stars and for expected ratings, and stars against
  the MF's stars, with a paired bootstrap interval over the pairs (below zero: the
  simulated users rate better);
* the distributions: the Jensen-Shannon divergence between the histograms of
  simulated and real stars (base 2, so 0 is identical and 1 disjoint), and the
  Spearman correlation between simulated and real ratings (Agent4Rec reports 0.638).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
from scipy.stats import spearmanr

FloatArray = npt.NDArray[np.float64]
STARS = np.arange(1, 6)


def rmse(predicted: FloatArray, real: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(predicted - real)))) if real.size else float("nan")


def star_histogram(ratings: FloatArray) -> FloatArray:
    """The share of ratings at each whole star 1..5 (half stars go up: 3.5 counts as 4)."""
    stars = np.clip(np.floor(ratings + 0.5), 1, 5).astype(np.int64)
    counts = np.bincount(stars, minlength=6)[1:].astype(np.float64)
    share: FloatArray = counts / max(counts.sum(), 1.0)
    return share


def jensen_shannon(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon divergence in bits between two distributions over the same bins."""
    middle = (p + q) / 2

    def kl(a: FloatArray) -> float:
        kept = a > 0
        return float(np.sum(a[kept] * np.log2(a[kept] / middle[kept])))

    return (kl(p) + kl(q)) / 2


def paired_rmse_difference(
    first: FloatArray, second: FloatArray, real: FloatArray, resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """RMSE(first) - RMSE(second) on the same pairs, with a 95% percentile-bootstrap interval over pairs."""
    rng = np.random.default_rng(seed)
    first_error, second_error = np.square(first - real), np.square(second - real)
    draws = rng.integers(0, real.size, size=(resamples, real.size))
    differences = np.sqrt(first_error[draws].mean(axis=1)) - np.sqrt(second_error[draws].mean(axis=1))
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"diff": rmse(first, real) - rmse(second, real), "low": float(low), "high": float(high)}


def rating_fidelity(
    stars: FloatArray, expected: FloatArray, real: FloatArray, baselines: Mapping[str, FloatArray]
) -> dict[str, object]:
    """The rating part of the fidelity block, all on the same pairs."""
    if real.size < 2:
        return {"rating_rmse": float("nan"), "rating_mae": float("nan"), "ratings": float(real.size)}
    correlation = spearmanr(stars, real).statistic if np.ptp(stars) > 0 else float("nan")
    pairings = [("stars", stars, "biased_mf"), ("expected", expected, "biased_mf"), ("stars", stars, "biased_mf_stars")]
    versus = {
        f"{kind}_vs_{name}": paired_rmse_difference(simulated, baselines[name], real)
        for kind, simulated, name in pairings
        if name in baselines
    }
    return {
        "rating_rmse": rmse(stars, real),
        "rating_mae": float(np.mean(np.abs(stars - real))),
        "rating_rmse_expected": rmse(expected, real),
        "rating_baselines": {name: rmse(predicted, real) for name, predicted in baselines.items()},
        "rating_versus": versus,
        "rating_distribution": {
            "jsd": jensen_shannon(star_histogram(stars), star_histogram(real)),
            "spearman": float(correlation),
            "simulated": star_histogram(stars).round(4).tolist(),
            "real": star_histogram(real).round(4).tolist(),
        },
        "ratings": float(real.size),
    }
