"""Parameter descriptions every method shares, written once and put into each docstring.

A method's docstring names a shared entry by a line holding only ``{name}`` (indented like the
parameters); :func:`shared_docs` replaces it, so ``help(fn)`` and the rendered docs read as if
it were written out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["shared_docs"]

SHARED = {
    "model_inputs_target": """\
model : nn.Module or callable
    Maps (preprocessed) inputs to (N, classes) scores; the raw output (a logit) is explained.
inputs : (N, ...) float tensor
    Inputs in pixel space, on the model's device, in the model's dtype.
target : None, int, list of int or tensor
    The output index to explain; None is the predicted class. One int (or a one-element
    tensor) applies to every input; a list or tensor gives one per input.""",
    "preprocess": """\
preprocess : callable, optional
    Applied before the model, inside the differentiated function (e.g. normalisation).""",
    "relu_rule_returns": """\
Returns
-------
Attribution
    ``values`` (shape of the inputs) and ``score`` F(x).

Warns
-----
UserWarning
    When the forward calls ``torch.relu`` / ``F.relu`` / ``Tensor.relu`` outside an ``nn.ReLU``
    module: module hooks cannot reach those calls, so those parts of the model get the plain
    gradient.""",
    "memory": """\
memory : int or str, optional
    Budget for this call beyond the model itself (default ``attrwidgets.config.memory``, 1 GiB):
    the points go through the model in chunks that fit, halved on an out-of-memory error.""",
    "layer": """\
layer : nn.Module, optional
    Attribute at this submodule's output instead of the inputs (e.g. ``model.embeddings`` for
    token ids, which are then accepted as inputs; a convolution for images). The values are
    shaped like the layer's output; see :mod:`attrwidgets.methods.layer` for baselines there.""",
    "forward_kwargs": """\
forward_kwargs : dict, optional
    Keyword arguments of every call of the model (``model(x, **forward_kwargs)``). Tensors whose
    first axis has one row per input (an attention mask, token type ids, lengths) go with their
    input into every point and chunk; anything else is passed unchanged.""",
    "progress": """\
progress : callable, optional
    ``progress(done, total)`` before the first chunk of points (``done`` 0) and after every
    chunk; raise from it to cancel (nothing more is computed).""",
}


def shared_docs(fn: Callable) -> Callable:
    """Replace each ``{name}`` line of ``fn``'s docstring by the shared text, at that line's indent."""
    lines = []
    for line in (fn.__doc__ or "").split("\n"):
        key = line.strip()
        if key.startswith("{") and key.endswith("}") and key[1:-1] in SHARED:
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(indent + part if part else "" for part in SHARED[key[1:-1]].split("\n"))
        else:
            lines.append(line)
    fn.__doc__ = "\n".join(lines)
    return fn
