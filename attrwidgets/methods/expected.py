"""Expected Gradients: Integrated Gradients averaged over baselines drawn from the training data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from attrwidgets._warn import warn
from attrwidgets.attribution import Attribution, Trace, reduce_channels
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import (
    Chunk,
    Points,
    accumulator_dtype,
    evaluate,
    first_pass,
    forward_outputs,
    progress_reporter,
)
from attrwidgets.methods.gradients import LAYER
from attrwidgets.methods.layer import layer_outputs
from attrwidgets.methods.path_state import cumulative_maps
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register
from attrwidgets.sampling import check_samples, check_seed, sample_generator

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["expected_gradients"]


@register(
    controls=(
        Control("references", "tensor", None, doc="training inputs (M, ...) the baselines are drawn from"),
        Control("samples", "int", 50, 1, 1000, doc="(reference, α) draws per input"),
        Control("seed", "seed", 0, 0, 2**31 - 1, doc="seed of the draws"),
        LAYER,
    ),
    paper=(
        "Erion, Janizek, Sturmfels, Lundberg & Lee, Improving performance of deep learning models with "
        "axiomatic attribution priors and expected gradients, Nature Machine Intelligence 2021 (arXiv:1906.10670)"
    ),
    axioms=("implementation_invariance", "linearity", "dummy"),
    produces=("score", "delta", "trace", "convergence"),
    needs=("references",),
)
@shared_docs
def expected_gradients(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    references: torch.Tensor,
    samples: int = 50,
    seed: int = 0,
    layer: torch.nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    trace: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    r"""Expected Gradients: Integrated Gradients with the baseline integrated over the data distribution.

    .. math:: \mathrm{EG}_i(x) = \mathbb{E}_{x' \sim D,\, \alpha \sim U(0, 1)}
              \Big[(x_i - x'_i)\, \frac{\partial F(x' + \alpha (x - x'))}{\partial x_i}\Big]
              \approx \frac{1}{n} \sum_{j=1}^{n} (x_i - x'_{j,i})\,
              \partial_i F\big(x'_j + \alpha_j (x - x'_j)\big)

    with :math:`x'_j` drawn uniformly (with replacement) from ``references`` and :math:`\alpha_j`
    uniformly from [0, 1]: one gradient per sample, all in one chunked pass under the memory
    budget. In expectation completeness holds against the mean reference score, so
    ``delta`` = Σ values − (F(x) − (1/n) Σ_j F(x'_j)) shrinks like 1/√n; the reference scores come
    from forward passes only (one per distinct reference drawn).

    Parameters
    ----------
    {model_inputs_target}
    references : (M, ...) tensor
        Training inputs in pixel space (the same shape as the inputs after the first axis), on any
        device: only the drawn ones are moved to the inputs' device. With ``layer``: the layer's
        outputs at training inputs (a float tensor shaped like the layer's output after the first
        axis), or training inputs (token ids, images) that are mapped through the model to the
        layer, with the ``forward_kwargs`` that are not per example.
    samples : int
        Draws (reference, α) per input, default 50; one model evaluation each.
    seed : int
        Seeds a generator of the call's own (never the global RNG); stored in ``params``.
    {layer}
    {forward_kwargs}
    preprocess : callable, optional
        Applied to every point before the model (e.g. normalisation).
    {memory}
    trace : bool
        Keep per-point maps (gradient and accumulated attribution, channel sums, float16). The
        curves are always kept.
    {progress}

    Returns
    -------
    Attribution
        ``values``, ``score`` F(x), ``baseline_score`` (1/n) Σ_j F(x'_j), ``delta``;
        ``trace``: the n points sorted by α (``alphas``, ``weights`` = 1/n, ``scores``,
        ``grad_mean_abs``, ``path_derivative`` = ∇F · (x − x'_j), maps), so ``trace.cumulative``
        is the attribution accumulated over the points up to each α;
        ``convergence`` holds the curves in samples, in draw order, shape (N, n):
        ``convergence["running_sum"][:, k-1]`` is Σ values estimated from the first k samples and
        ``convergence["running_baseline_score"][:, k-1]`` the mean reference score over them, so
        ``running_sum - (score - running_baseline_score)`` is the completeness gap after k samples.
        (These are curves, not a decomposition of the score.)

    References
    ----------
    Erion, Janizek, Sturmfels, Lundberg & Lee, "Improving performance of deep learning models with
    axiomatic attribution priors and expected gradients", Nature Machine Intelligence 2021,
    arXiv:1906.10670.
    Sturmfels, Lundberg & Lee, "Visualizing the Impact of Feature Attribution Baselines",
    Distill 2020.

    Notes
    -----
    Captum's ``GradientShap`` computes the same estimator (with ``stdevs=0``). Differences, on purpose:

    * Draws come from a generator seeded per (seed, sample index), never the global RNG, so the
      same seed gives the same result and ``samples=10`` draws the first ten of ``samples=50``.
      Every input of a batch gets the same draws (x'_j, α_j), so an input's attribution does not
      depend on what else is in the batch; when averaging attributions over a data set, vary the
      seed between batches. The draws are made on the CPU, hence identical on every device.
    * ``delta`` compares with the mean score of the references actually drawn (Captum's delta for
      GradientShap does the same per sample); the running curves in ``convergence`` show how it closes.
    * The points are evaluated in chunks sized by the memory budget (Captum: ``n_samples`` in one
      batch per input).

    Examples
    --------
    >>> attr = expected_gradients(model, images, references=train[:1000], samples=50)   # doctest: +SKIP
    >>> attr.values.shape, attr.convergence["running_sum"].shape                             # doctest: +SKIP
    (torch.Size([1, 3, 224, 224]), torch.Size([1, 50]))
    """
    run = Run(model, inputs, target, references=references, samples=samples, seed=seed, layer=layer,
              forward_kwargs=forward_kwargs, preprocess=preprocess, memory=memory, trace=trace)  # fmt: skip
    return run.advance(run.samples, progress)


class Run:
    """Expected Gradients in steps, each reusing the draws before it (private: the compare grid's).

    The draws (x'_j, α_j) are one fixed sequence, seeded per (seed, j), so the answer after the
    first k draws is :func:`expected_gradients` with ``samples=k``, and a later :meth:`advance`
    only adds draws. The compare grid shows the running mean after a first chunk of draws and then
    completes it, with no draw computed twice; :func:`expected_gradients` is one step to
    ``samples``. Each step takes the model (:class:`~attrwidgets.hooks.ModelGuard`) for itself,
    so nothing is held on the model between steps.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        inputs: torch.Tensor,
        target: int | list[int] | torch.Tensor | None = None,
        *,
        references: torch.Tensor,
        samples: int = 50,
        seed: int = 0,
        layer: torch.nn.Module | None = None,
        forward_kwargs: dict[str, Any] | None = None,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        memory: int | str | None = None,
        trace: bool = True,
    ) -> None:
        self.explained = explained = Explained(model, inputs, preprocess, layer=layer, forward_kwargs=forward_kwargs)
        x = explained.inputs
        self.refs = refs = _check_references(references, x, layer=layer is not None)
        self.samples = samples = check_samples(samples)
        self.seed = seed = check_seed(seed)
        self.memory = parse_memory(memory)
        self.target, self.trace = target, trace
        drawn, alpha = [], []
        for j in range(samples):
            generator = sample_generator(seed, j)
            drawn.append(int(torch.randint(len(refs), (1,), generator=generator)))
            alpha.append(float(torch.rand((), generator=generator, dtype=torch.float64)))
        self.alpha = alpha
        self.unique, inverse = torch.unique(torch.tensor(drawn), return_inverse=True)
        if refs.is_floating_point() and not bool(torch.isfinite(refs[self.unique.to(refs.device)]).all()):
            msg = "references contain non-finite values (nan or inf) among those drawn; replace them before attributing"
            raise ValueError(msg)
        self.which = inverse.to(x.device)  # sample j uses drawn_refs[which[j]]
        self.done = 0
        self._state: dict[str, Any] | None = None

    def _start(self) -> dict[str, Any]:
        """The pass at the inputs, the distinct references drawn and the record (first step only)."""
        explained, memory = self.explained, self.memory
        at_x = first_pass(explained, explained.inputs, self.target, memory=memory, backward=False)
        x = at_x.z  # the inputs, or the layer's output at them
        acc_dtype = accumulator_dtype(x.dtype)
        # the distinct references drawn, moved to the inputs' device once (not a copy per chunk)
        drawn_refs = _drawn(explained, self.refs, self.unique, x, memory, at_x.per_point)
        record = _Record(x, self.samples, acc_dtype, trace=self.trace, memory=memory, references=len(drawn_refs))
        return {
            "pass": at_x,
            "x": x,
            "alpha": torch.tensor(self.alpha, dtype=x.dtype, device=x.device),
            "acc_dtype": acc_dtype,
            "drawn_refs": drawn_refs,
            "record": record,
            "held": record.bytes() + drawn_refs.numel() * drawn_refs.element_size(),
            # F(x'_r) per input and distinct reference, filled as the draws reach each reference
            "ref_scores": torch.full((len(x), len(drawn_refs)), float("nan"), dtype=x.dtype, device=x.device),
        }

    def advance(self, stop: int, progress: Callable[[int, int], None] | None = None) -> Attribution:
        """Draw up to sample ``stop`` (from where the last step ended) and return the attribution
        over the first ``stop`` draws: ``expected_gradients(samples=stop)``."""
        if isinstance(stop, bool) or not isinstance(stop, int) or not self.done < stop <= self.samples:
            msg = f"advance({stop!r}): give an int from {self.done + 1} (after the draws done) to {self.samples}"
            raise ValueError(msg)
        explained, begin = self.explained, self.done
        n = len(explained.inputs)
        report = progress_reporter(progress, n * (stop - begin))
        with ModelGuard(explained.module):
            if self._state is None:
                self._state = self._start()
            state = self._state
            x, at_x, record, drawn_refs = state["x"], state["pass"], state["record"], state["drawn_refs"]
            alpha_x, held, which = state["alpha"], state["held"], self.which
            table = state["ref_scores"]
            needed = torch.unique(which[begin:stop])
            needed = needed[torch.isnan(table[0, needed])]
            if len(needed):  # forward only, once per distinct reference
                table[:, needed] = _reference_scores(
                    explained, drawn_refs[needed], at_x.target, self.memory, at_x.per_point, held
                ).to(table.dtype)

            # the gradient at x'_j + α_j (x_i − x'_j); point k is sample begin + k // n of input k % n
            def build(start: int, end: int) -> Points:
                k = torch.arange(start, end, device=x.device)
                rows, sample = k % n, begin + k // n
                base = drawn_refs[which[sample]]
                diff = x[rows] - base
                point = base + alpha_x[sample].view((-1,) + (1,) * (x.dim() - 1)) * diff
                return Points(point, at_x.target[rows], (rows, sample, diff), rows=rows)

            def consume(chunk: Chunk) -> None:
                rows, sample, diff = chunk.context
                record.add(rows, sample, which[sample], chunk.score, chunk.grad, diff)

            evaluate(explained, n * (stop - begin), build, consume, memory=self.memory, per_point=at_x.per_point,
                     fixed=held, progress=report)  # fmt: skip
        self.done = stop
        return self._attribution(stop)

    def per_reference(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """The draws done so far per distinct reference: its index in ``references``, how many of
        the draws used it, and the mean of their maps (channel sums, (N, R, ...) float32), so
        Σ_r counts_r · maps_r / draws is the channel sum of the attribution; None without a trace
        (``trace=False`` or over the memory budget) or before the first step."""
        record = None if self._state is None else self._state["record"]
        if record is None or record.per_reference is None:
            return None
        counts = torch.bincount(self.which[: self.done].cpu(), minlength=len(self.unique))
        used = counts > 0
        maps = record.per_reference[:, used.to(record.per_reference.device)]
        kept = counts[used]
        return self.unique[used], kept, maps / kept.to(maps).view((1, -1) + (1,) * (maps.dim() - 2))

    def _attribution(self, k: int) -> Attribution:
        state = self._state
        record, x, acc_dtype, at_x = state["record"], state["x"], state["acc_dtype"], state["pass"]
        score = at_x.score
        values = (record.acc / k).to(x.dtype)
        baseline_scores = state["ref_scores"][:, self.which[:k]]
        baseline_score = baseline_scores.mean(dim=1)
        delta = values.flatten(1).sum(1).to(acc_dtype) - (score - baseline_score).to(acc_dtype)
        counts = torch.arange(1, k + 1, device=x.device, dtype=acc_dtype)
        convergence = {
            "running_sum": torch.cumsum(record.derivative[:, :k], dim=1) / counts,
            "running_baseline_score": torch.cumsum(baseline_scores.to(acc_dtype), dim=1) / counts,
        }
        params: dict[str, Any] = {
            "references": f"tensor{tuple(self.refs.shape)}",
            "samples": k,
            "seed": self.seed,
            "memory": self.memory,
        }
        if self.explained.layer is not None:
            params["layer"] = self.explained.layer_name
        alpha = torch.tensor(self.alpha[:k], dtype=acc_dtype, device=x.device)
        return Attribution(
            values=values,
            target=at_x.target,
            method="expected_gradients",
            params=params,
            score=score,
            baseline_score=baseline_score,
            delta=delta,
            convergence=convergence,
            trace=record.trace(alpha, release=k == self.samples),
        )


def _drawn(
    explained: Explained, refs: torch.Tensor, unique: torch.Tensor, at: torch.Tensor, memory: int, per_point: int
) -> torch.Tensor:
    """The distinct references drawn, in the attribution space (at the layer, mapped there if need be)."""
    drawn = refs[unique.to(refs.device)]
    if explained.layer is None:
        return drawn.to(device=at.device, dtype=at.dtype)
    if drawn.is_floating_point() and drawn.shape[1:] == at.shape[1:]:
        return drawn.to(device=at.device, dtype=at.dtype)  # already at the layer
    x = explained.inputs
    if drawn.shape[1:] != x.shape[1:] or drawn.is_floating_point() != x.is_floating_point():
        msg = (
            f"references have shape {tuple(refs.shape)} and dtype {refs.dtype}: at layer {explained.layer_name} "
            f"give its outputs at training inputs, shaped (M, {', '.join(map(str, at.shape[1:]))}), or training "
            f"inputs like the inputs, (M, {', '.join(map(str, x.shape[1:]))}) of dtype {x.dtype}"
        )
        raise ValueError(msg)
    feed = drawn.to(device=x.device, dtype=x.dtype)
    return layer_outputs(explained, feed, memory, per_point, own_rows=False)


def _reference_scores(
    explained: Explained, drawn_refs: torch.Tensor, target: torch.Tensor, memory: int, per_point: int, held: int
) -> torch.Tensor:
    """F(x'_r) per input and reference ``drawn_refs[r]``, (N, R): forward only.

    Without a layer or per-example arguments F(x'_r) is the same for every input: one forward per
    reference, all classes at once. Otherwise it depends on the input (its mask, or the inputs fed
    below the layer): one forward per (input, reference).
    """
    n, count = len(target), len(drawn_refs)
    if not explained.needs_rows:
        outputs = forward_outputs(explained, drawn_refs, memory=memory, per_point=per_point, fixed=held)
        return outputs[:, target].T
    table = torch.empty(n, count, dtype=drawn_refs.dtype, device=drawn_refs.device)

    def build(start: int, stop: int) -> Points:
        k = torch.arange(start, stop, device=drawn_refs.device)
        rows, ref = k % n, k // n
        return Points(drawn_refs[ref], target[rows], ref, rows=rows)

    def consume(chunk: Chunk) -> None:
        k = torch.arange(chunk.start, chunk.stop, device=drawn_refs.device)
        table[k % n, chunk.context] = chunk.score

    evaluate(explained, n * count, build, consume, grad=False, memory=memory, per_point=per_point, fixed=held)
    return table


def _check_references(references: object, x: torch.Tensor, *, layer: bool = False) -> torch.Tensor:
    if not isinstance(references, torch.Tensor):
        msg = (
            f"references must be a tensor of training inputs shaped (M, {', '.join(map(str, x.shape[1:]))}), "
            f"not {type(references).__name__}; e.g. torch.stack([dataset[i][0] for i in range(1000)])"
        )
        raise TypeError(msg)
    if layer:  # checked against the layer's output once it is known (see _drawn)
        if len(references) == 0 or references.dim() < 2:
            msg = f"references have shape {tuple(references.shape)}: give at least one, shaped (M, ...)"
            raise ValueError(msg)
        return references.detach()
    if not references.is_floating_point():
        msg = f"references have dtype {references.dtype}: give floating-point inputs in pixel space, like the inputs"
        raise TypeError(msg)
    if references.dim() != x.dim() or references.shape[1:] != x.shape[1:] or len(references) == 0:
        msg = (
            f"references have shape {tuple(references.shape)} but the inputs {tuple(x.shape)}: give at least "
            f"one reference, shaped (M, {', '.join(map(str, x.shape[1:]))})"
        )
        raise ValueError(msg)
    return references.detach()


class _Record:
    """What the pass keeps per point: the sum of the attributions, the curves and (optionally) the maps."""

    def __init__(
        self, x: torch.Tensor, samples: int, acc_dtype: torch.dtype, *, trace: bool, memory: int, references: int = 1
    ) -> None:
        n, device = len(x), x.device
        self.samples = samples
        self.acc = torch.zeros(x.shape, dtype=acc_dtype, device=device)
        self.scores = torch.zeros(n, samples, dtype=x.dtype, device=device)
        self.derivative = torch.zeros(n, samples, dtype=acc_dtype, device=device)
        self.magnitude = torch.zeros(n, samples, dtype=x.dtype, device=device)
        map_shape = tuple(reduce_channels(x[:1]).shape[1:])
        one = int(torch.Size(map_shape).numel())
        pixels = n * samples * one
        self.making = (2 + 2) * pixels  # the trace's float16 copies of both kinds of map
        # float16 gradient and float32 contribution maps per draw, a float32 sum per distinct reference
        map_bytes = (2 + 4) * pixels + self.making + 4 * n * references * one
        if trace and map_bytes > memory // 2:
            warn(
                f"trace maps for {samples} samples would exceed half the memory budget "
                f"({memory / 2**20:.0f} MiB): only the curves are kept. Pass trace=False to silence "
                "this, fewer samples, or a larger memory="
            )
            trace = False
        self.grad_maps = torch.zeros(n, samples, *map_shape, dtype=torch.float16, device=device) if trace else None
        self.contrib_maps = torch.zeros(n, samples, *map_shape, dtype=torch.float32, device=device) if trace else None
        self.per_reference = (
            torch.zeros(n, references, *map_shape, dtype=torch.float32, device=device) if trace else None
        )
        """The sum of the contribution maps of the draws of each distinct reference."""

    def bytes(self) -> int:
        """What the record holds, and what making its trace will add."""
        tensors = (self.acc, self.scores, self.derivative, self.magnitude, self.grad_maps, self.contrib_maps,
                   self.per_reference)  # fmt: skip
        making = self.making if self.grad_maps is not None else 0
        return sum(t.numel() * t.element_size() for t in tensors if t is not None) + making

    def add(
        self,
        rows: torch.Tensor,
        sample: torch.Tensor,
        reference: torch.Tensor,
        scores: torch.Tensor,
        grad: torch.Tensor,
        diff: torch.Tensor,
    ) -> None:
        contrib = grad * diff
        self.acc.index_put_((rows,), contrib.to(self.acc.dtype), accumulate=True)  # faster than index_add_ on CPU
        self.scores[rows, sample] = scores
        self.derivative[rows, sample] = contrib.flatten(1).sum(1).to(self.derivative.dtype)
        self.magnitude[rows, sample] = grad.abs().flatten(1).mean(1)
        if self.grad_maps is not None:
            self.grad_maps[rows, sample] = reduce_channels(grad).to(torch.float16)
            reduced = reduce_channels(contrib).to(torch.float32)
            self.contrib_maps[rows, sample] = reduced
            self.per_reference.index_put_((rows, reference), reduced, accumulate=True)

    def trace(self, alpha: torch.Tensor, *, release: bool = True) -> Trace:
        """The first ``len(alpha)`` draws sorted by α (the same draws for every input), weights
        1/len(alpha). ``release``: the per-draw maps are given up to the trace (the last step)."""
        k = len(alpha)
        order = torch.argsort(alpha, stable=True)
        n = len(self.scores)
        weights = torch.full((n, k), 1 / k, dtype=alpha.dtype, device=alpha.device)
        cumulative = grad_maps = None
        if self.contrib_maps is not None:
            maps = self.contrib_maps
            if release:
                self.contrib_maps = None
            cumulative = cumulative_maps(n, lambda i: maps[i, :k][order].div_(k), maps)
            del maps
            grad_maps = self.grad_maps[:, :k][:, order]
            if release:
                self.grad_maps = None
        return Trace(
            alphas=alpha[order].expand(n, -1).contiguous(),
            weights=weights,
            scores=self.scores[:, :k][:, order],
            grad_mean_abs=self.magnitude[:, :k][:, order],
            path_derivative=self.derivative[:, :k][:, order],
            grad_maps=grad_maps,
            cumulative_maps=cumulative,
            evaluations=n * k,
        )
