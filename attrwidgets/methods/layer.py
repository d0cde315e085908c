"""Attribution at a layer: baselines in the layer's output space, and layer outputs through the engine.

With ``layer=`` a method attributes at the output of that module (the embeddings of a text model,
a convolution's feature maps): the path, the noise or the gradient live there, and completeness
holds there, Σ values = F(x) − F(x′) with F evaluated with the layer's output replaced. A
baseline at a layer is

* ``"zero"``: the zero vector at the layer (the zero embedding: the text analog of the black
  image). With integer inputs (token ids) the default ``"black"`` means the same;
* an int, with integer inputs: a token id (``[PAD]``, ``[MASK]``), embedded, i.e. the layer's
  output when every input token is that one (with the input's own forward arguments);
* an integer tensor: token ids shaped like the inputs (or broadcasting to them), mapped the same way;
* a float tensor shaped like the layer's output (or broadcasting to it): used as it is;
* anything the inputs accept as a baseline (a name such as ``"black"``, a number, a callable, a
  tensor shaped like the inputs), for float inputs: mapped through the model to the layer, as
  Captum's ``LayerIntegratedGradients`` does with its ``baselines``.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import torch

from attrwidgets.baselines import resolve_baseline
from attrwidgets.methods._engine import Chunk, Points, evaluate

if TYPE_CHECKING:  # pragma: no cover
    from attrwidgets.model import Explained

__all__ = ["check_layer_baseline", "layer_baseline", "layer_outputs"]

#: Baseline names that mean the zero vector at the layer (``"black"`` only for integer inputs).
ZERO = "zero"


def check_layer_baseline(baseline: object, explained: Explained) -> None:
    """A clear error up front, before any forward, for a baseline the layer cannot take."""
    ids = not explained.inputs.is_floating_point()
    if isinstance(baseline, str) and baseline not in (ZERO, "black") and ids:
        msg = (
            f"baseline={baseline!r} is an image baseline, but the inputs are token ids: at a layer give "
            '"zero" (the zero embedding), a token id (e.g. tokenizer.pad_token_id), ids shaped like the '
            "inputs, or a float tensor shaped like the layer's output"
        )
        raise ValueError(msg)
    if ids and isinstance(baseline, bool | float):
        msg = f"baseline={baseline!r}: with token ids as inputs a number baseline is a token id, an int"
        raise TypeError(msg)
    if ids and callable(baseline) and not isinstance(baseline, torch.Tensor | str):
        msg = "a callable baseline makes inputs-shaped float tensors; with token ids give a token id or ids instead"
        raise TypeError(msg)


def layer_baseline(
    explained: Explained, baseline: object, at: torch.Tensor, memory: int, per_point: int
) -> tuple[torch.Tensor, object]:
    """The baseline at the layer, shaped like ``at`` (the layer's output at the inputs), and its description."""
    x = explained.inputs
    ids = not x.is_floating_point()
    if isinstance(baseline, str) and (baseline == ZERO or (ids and baseline == "black")):
        return torch.zeros_like(at), ZERO
    if ids and isinstance(baseline, numbers.Integral) and not isinstance(baseline, bool):
        feed = torch.full_like(x, int(baseline))
        return layer_outputs(explained, feed, memory, per_point), f"token {int(baseline)}"
    if isinstance(baseline, torch.Tensor):
        tensor = baseline.detach()
        if not tensor.is_floating_point():
            return layer_outputs(explained, _broadcast(tensor, x, "token ids"), memory, per_point), (
                f"token ids{tuple(tensor.shape)}"
            )
        if _broadcasts(tensor.shape, at.shape):
            if not bool(torch.isfinite(tensor).all()):
                msg = "baseline contains non-finite values (nan or inf)"
                raise ValueError(msg)
            return tensor.to(device=at.device, dtype=at.dtype).expand(at.shape), f"tensor{tuple(tensor.shape)}"
        if ids or not _broadcasts(tensor.shape, x.shape):
            msg = (
                f"baseline of shape {tuple(tensor.shape)} broadcasts neither to the layer's output "
                f"{tuple(at.shape)} nor to the inputs {tuple(x.shape)}: give a baseline at the layer "
                f"(e.g. {tuple(at.shape[1:])}) or one in input space"
            )
            raise ValueError(msg)
    base, described = resolve_baseline(baseline, x)  # in input space, mapped through the model
    return layer_outputs(explained, base, memory, per_point), described


def layer_outputs(
    explained: Explained, feed: torch.Tensor, memory: int, per_point: int, *, own_rows: bool = True
) -> torch.Tensor:
    """The layer's output when the model is fed ``feed`` (forward only, through the engine, and
    only up to the layer: what comes after it is not run).

    ``own_rows``: row i of ``feed`` stands for input i (its per-example forward arguments are
    used); False for inputs that are not the explained ones (references), which get the
    arguments that are not per example only.
    """
    n = len(feed)
    out: list[torch.Tensor] = []

    def build(start: int, stop: int) -> Points:
        rows = torch.arange(start, stop, device=explained.inputs.device) if own_rows else None
        return Points(None, rows=rows, inputs=feed[start:stop], until_layer=True)  # the layers above: not run

    def consume(chunk: Chunk) -> None:
        if not out:
            out.append(torch.empty((n, *chunk.z.shape[1:]), dtype=chunk.z.dtype, device=chunk.z.device))
        out[0][chunk.start : chunk.stop] = chunk.z

    evaluate(explained, n, build, consume, grad=False, memory=memory, per_point=per_point)
    return out[0]


def _broadcasts(shape: torch.Size, to: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, to) == to
    except RuntimeError:
        return False


def _broadcast(tensor: torch.Tensor, x: torch.Tensor, what: str) -> torch.Tensor:
    if not _broadcasts(tensor.shape, x.shape):
        msg = f"baseline {what} of shape {tuple(tensor.shape)} do not broadcast to the inputs' shape {tuple(x.shape)}"
        raise ValueError(msg)
    return tensor.to(device=x.device, dtype=x.dtype).expand(x.shape).contiguous()
