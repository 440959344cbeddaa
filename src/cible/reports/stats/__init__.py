"""Experiment statistics on sufficient statistics, with numpy and scipy only.

Every function takes per-arm sizes, sums and sums of squares (arrays or floats) and knows nothing
of the database: the report service feeds it aggregates, the tests feed it simulated arrays.
Formulas, defaults and sources: docs/reports.md.

Each function imports ``scipy.stats`` where it uses it: that import costs about 3 s of CPU, half
of what the server's start cost before, for statistics that only reports and the allocation job
compute.

    >>> from cible.reports.stats import welch, lift
    >>> w = welch(0.0139, 0.0137, 218362, 0.0112, 0.0111, 219328)
    >>> round(float(w.confidence), 4)
    1.0
"""

from cible.reports.stats._bandit import ALGORITHMS, Allocation, allocate, bernstein_bounds
from cible.reports.stats._bayes import Posterior, posterior
from cible.reports.stats._checks import CORRECTIONS, Srm, adjust_p_values, srm
from cible.reports.stats._cuped import CovariateMoments, CupedLift, cuped_lift
from cible.reports.stats._frequentist import Lift, Welch, lift, mean_interval, welch
from cible.reports.stats._moments import (
    adobe_extreme_orders,
    binary_variance,
    mean,
    unit_variance,
    winsorize,
)
from cible.reports.stats._power import power, sample_size, sample_size_continuous
from cible.reports.stats._sequential import Sequential, mixture_rho, sequential

__all__ = [
    "ALGORITHMS",
    "CORRECTIONS",
    "Allocation",
    "CovariateMoments",
    "CupedLift",
    "Lift",
    "Posterior",
    "Sequential",
    "Srm",
    "Welch",
    "adjust_p_values",
    "adobe_extreme_orders",
    "allocate",
    "bernstein_bounds",
    "binary_variance",
    "cuped_lift",
    "lift",
    "mean",
    "mean_interval",
    "mixture_rho",
    "posterior",
    "power",
    "sample_size",
    "sample_size_continuous",
    "sequential",
    "srm",
    "unit_variance",
    "welch",
    "winsorize",
]
