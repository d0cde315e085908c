"""Quadrature on [0, 1] for path integrals: fixed rules and an adaptive trapezoid mesh.

Every rule returns points α_k in [0, 1] and weights w_k that sum to exactly 1, so that
Σ_k w_k ∂F/∂x(x′ + α_k (x − x′)) approximates ∫₀¹ ∂F/∂x dα.

Rule names follow Captum. One difference on purpose: Captum's ``riemann_trapezoid`` uses the n
points ``linspace(0, 1, n)`` with weights 1/n and halved ends, which sum to 1 − 1/n, so its
result converges to (1 − 1/n) × the integral (a 2 % completeness gap at n = 50 on a linear model).
Ours uses the same points with the trapezoid weights 1/(n − 1) and halved ends, which sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["QUADRATURE_RULES", "AdaptiveMesh", "rule_points"]

QUADRATURE_RULES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def rule_points(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points and weights (float64, ascending points) of a fixed rule with ``steps`` points."""
    if rule not in QUADRATURE_RULES:
        msg = f"unknown rule {rule!r}: choose one of {QUADRATURE_RULES}"
        raise ValueError(msg)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        msg = f"steps must be a positive int or 'auto', got {steps!r}"
        raise ValueError(msg)
    n = int(steps)
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return (nodes + 1) / 2, weights / 2
    if rule == "riemann_trapezoid":
        if n < 2:
            msg = "riemann_trapezoid needs steps >= 2 (both ends of the path)"
            raise ValueError(msg)
        weights = np.full(n, 1 / (n - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0, 1, n), weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[rule]
    return (np.arange(n) + offset) / n, np.full(n, 1 / n)


#: Panels bisected per round: few, so points go where the error is (splitting the 3 worst panels
#: per round needed fewer points for a 1 % gap than splitting the panels holding half the total
#: error; measured: benchmarks/RESULTS.md, "Numbers quoted in the code"), but more than one, so
#: each round still fills a batch.
SPLITS_PER_ROUND = 3


@dataclass
class AdaptiveMesh:
    """Adaptive composite trapezoid rule on [0, 1] for one input, driven by a free local error indicator.

    The path integral of the derivative F′(α) = ∇F · (x − x′) must equal F(x) − F(x′); on each panel
    [a, b] the same holds, so the trapezoid estimate (b − a)/2 · (F′(a) + F′(b)) can be checked
    against F(b) − F(a), both known from points already evaluated. The panels whose check fails
    most are bisected (one new point each); every point already computed stays in use, since
    dyadic points nest. Positions are integers over ``2**levels`` so that points compare exactly.

    Why trapezoid panels and not Simpson's: a classifier's path derivative is rough (kinks from
    every ReLU crossing zero), where higher-order panels gain nothing and need twice the points
    per panel; on real photos trapezoid panels needed fewer evaluations for a 1 % gap (measured:
    ``benchmarks/RESULTS.md``, "Numbers quoted in the code").
    """

    levels: int = 24
    initial_panels: int = 8
    splits: int = SPLITS_PER_ROUND
    panels: list[tuple[int, int]] = field(default_factory=list)
    values: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        width = (1 << self.levels) // self.initial_panels
        self.panels = [(i * width, (i + 1) * width) for i in range(self.initial_panels)]

    @property
    def scale(self) -> int:
        return 1 << self.levels

    def nodes(self) -> list[int]:
        """All points the current panels use, ascending."""
        return sorted({p for panel in self.panels for p in panel})

    def missing(self) -> list[int]:
        """Points the panels need that have not been evaluated yet."""
        return [p for p in self.nodes() if p not in self.values]

    def record(self, point: int, score: float, derivative: float) -> None:
        """Store F and F′ = dF/dα at a point."""
        self.values[point] = (score, derivative)

    def panel_errors(self) -> list[float]:
        """The trapezoid estimate of ∫ F′ minus F(b) − F(a), per panel (signed)."""
        errors = []
        for a, b in self.panels:
            h = (b - a) / self.scale
            (fa, da), (fb, db) = self.values[a], self.values[b]
            errors.append(h / 2 * (da + db) - (fb - fa))
        return errors

    def gap(self) -> tuple[float, float]:
        """(Σ panel errors, F(1) − F(0)): the completeness gap of the current mesh and what it is relative to."""
        span = self.values[self.scale][0] - self.values[0][0]
        return float(sum(self.panel_errors())), span

    def refine(self, budget: int) -> bool:
        """Bisect the (at most ``splits``, at most ``budget``) panels with the largest |error|.

        Returns False when no panel could be split (budget spent or finest level reached).
        """
        errors = np.abs(np.asarray(self.panel_errors()))
        chosen = set()
        for index in np.argsort(-errors, kind="stable"):
            if len(chosen) >= min(self.splits, budget):
                break
            a, b = self.panels[index]
            if b - a >= 2:
                chosen.add(int(index))
        if not chosen:
            return False
        panels = []
        for index, (a, b) in enumerate(self.panels):
            if index in chosen:
                m = (a + b) // 2
                panels += [(a, m), (m, b)]
            else:
                panels.append((a, b))
        self.panels = panels
        return True

    def weights(self) -> dict[int, float]:
        """Composite trapezoid weight of every point in use (they sum to 1)."""
        weights: dict[int, float] = {}
        for a, b in self.panels:
            h = (b - a) / self.scale
            for point in (a, b):
                weights[point] = weights.get(point, 0.0) + h / 2
        return weights
