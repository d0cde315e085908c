"""Wrapping a model: preprocess composed into the differentiated function, input checks, targets."""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from attrwidgets._warn import warn
from attrwidgets.config import config

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator

__all__ = ["Explained", "model_device", "resolve_target"]

TargetLike = "int | Sequence[int] | torch.Tensor | None"

def model_device(model: nn.Module) -> torch.device | None:
    """The device of the model's first parameter or buffer; None for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return None


@contextlib.contextmanager
def grad_enabled() -> Iterator[None]:
    """Autograd on, even when the caller is under ``torch.no_grad()`` or ``torch.inference_mode()``."""
    with torch.inference_mode(mode=False), torch.enable_grad():
        yield


def check_inputs(
    inputs: object, device: torch.device | None, *, name: str = "inputs", integer: bool = False
) -> torch.Tensor:
    """Validate ``inputs`` and return a detached tensor that shares nothing writable with the caller's.

    ``integer=True`` (attribution at a layer) also accepts integer inputs such as token ids: the
    gradient is taken at the layer's output, never at the inputs.
    """
    if not isinstance(inputs, torch.Tensor):
        hint = " (for a numpy array: torch.from_numpy(a).float())" if type(inputs).__module__ == "numpy" else ""
        msg = f"{name} must be a torch.Tensor with a batch dimension, not {type(inputs).__name__}{hint}"
        raise TypeError(msg)
    is_integer = not inputs.is_floating_point() and not inputs.is_complex() and inputs.dtype != torch.bool
    if not inputs.is_floating_point() and not (integer and is_integer):
        kind = "integer" if is_integer else str(inputs.dtype)
        msg = (
            f"{name} have dtype {inputs.dtype} ({kind}): gradients need floating-point inputs. "
            "For token ids, attribute the embeddings: pass layer=model.embeddings (the module whose "
            'output is attributed; baseline="zero" is the zero embedding). '
            "For images stored as uint8, pass images.float() / 255."
        )
        raise TypeError(msg)
    if inputs.dim() < 2:
        msg = (
            f"{name} have shape {tuple(inputs.shape)}: the first axis must be the batch; "
            f"for one example use {name}.unsqueeze(0)"
        )
        raise ValueError(msg)
    if inputs.shape[0] == 0:
        msg = f"{name} have shape {tuple(inputs.shape)}: an empty batch; give at least one input"
        raise ValueError(msg)
    if inputs.numel() == 0:
        empty = [i for i, size in enumerate(inputs.shape) if size == 0]
        msg = (
            f"{name} have shape {tuple(inputs.shape)}: axis {empty[0]} has size 0, so there are no features "
            "to attribute; give inputs with at least one value per example"
        )
        raise ValueError(msg)
    if device is not None and inputs.device != device:
        msg = (
            f"{name} are on {inputs.device} but the model is on {device}: "
            f"move them with {name}.to({str(device)!r})"
        )
        raise ValueError(msg)
    with torch.inference_mode(mode=False):
        x = inputs.detach()
        if x.is_inference():
            x = x.clone()
        bad = (~torch.isfinite(x)).sum() if x.is_floating_point() else 0
        if bad:
            msg = f"{name} contain {int(bad)} non-finite values (nan or inf); replace them before attributing"
            raise ValueError(msg)
    return x


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's floating-point parameters (buffers if it has none); None if it has neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def check_dtype(inputs: torch.Tensor, model: nn.Module, *, name: str = "inputs") -> None:
    """A clear error when the inputs' dtype differs from the model's (torch's own comes from deep inside)."""
    dtype = model_dtype(model)
    if dtype is None or inputs.dtype == dtype:
        return
    cast = {torch.float64: ".double()", torch.float32: ".float()", torch.float16: ".half()",
            torch.bfloat16: ".bfloat16()"}.get(dtype, f".to({dtype})")  # fmt: skip
    msg = (
        f"{name} have dtype {inputs.dtype} but the model's parameters are {dtype}: convert the inputs "
        f"({name}{cast}) or the model (model.to({inputs.dtype})) so that they match"
    )
    raise TypeError(msg)


def _int64_or_none(value: int) -> int | None:
    return int(value) if -(2**63) <= value < 2**63 else None


def resolve_target(target: object, output: torch.Tensor) -> torch.Tensor:
    """One output index per input, as a long tensor on the output's device.

    ``None`` means the predicted class (index 0 for a one-output model); an int (or a one-element
    list, tuple or tensor) is used for every input; a longer one gives one per input.
    """
    n, classes = output.shape
    valid = f"valid targets are 0..{classes - 1} for model output of shape {tuple(output.shape)}"
    if target is None:
        if classes == 1:
            return torch.zeros(n, dtype=torch.long, device=output.device)
        return output.detach().argmax(dim=1)
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.dtype == torch.bool or target.is_complex():
            msg = f"target tensor has dtype {target.dtype}: give class indices as integers; {valid}"
            raise TypeError(msg)
        values = target.detach().reshape(-1).to(device=output.device, dtype=torch.long)
        if values.numel() == 1:  # one target for every input, as an int is (and as Captum does)
            values = values.expand(n)
    elif isinstance(target, bool) or not isinstance(target, (numbers.Integral, list, tuple)):
        msg = f"target must be None, an int, a list of ints or an integer tensor, not {target!r}; {valid}"
        raise TypeError(msg)
    else:
        items = [target] if isinstance(target, numbers.Integral) else list(target)
        if not all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in items):
            msg = f"target list must hold ints, got {target!r}; {valid}"
            raise TypeError(msg)
        beyond = [int(t) for t in items if _int64_or_none(t) is None or not 0 <= t < classes]
        if beyond:  # checked in Python first: values beyond int64 cannot become a tensor
            msg = f"target {beyond} out of range: {valid}"
            raise ValueError(msg)
        values = torch.tensor([int(t) for t in items], dtype=torch.long, device=output.device)
        if len(items) == 1:  # an int, or a one-element list: one target for every input
            values = values.expand(n)
    if values.numel() != n:
        given = "1 target" if values.numel() == 1 else f"{values.numel()} targets"
        msg = f"got {given} for {n} inputs: give one target for all of them, or one per input; {valid}"
        raise ValueError(msg)
    bad = (values < 0) | (values >= classes)
    if bool(bad.any()):
        msg = f"target {values[bad].tolist()} out of range: {valid}"
        raise ValueError(msg)
    return values.contiguous()


def as_2d_output(output: object) -> torch.Tensor:
    """The model's output as (N, classes); a clear error for outputs that are not one tensor."""
    if not isinstance(output, torch.Tensor):
        kind = type(output).__name__
        msg = (
            f"the model returned a {kind}, not a tensor: wrap it so it returns the (N, classes) scores, "
            "e.g. lambda x: model(x).logits or lambda x: model(x)[0]"
        )
        raise TypeError(msg)
    if output.dim() == 1:
        return output.unsqueeze(1)
    if output.dim() != 2:
        msg = (
            f"the model's output has shape {tuple(output.shape)}: one score per input and class "
            "(N, classes) is needed; wrap the model to reduce the rest (e.g. sum a segmentation mask)"
        )
        raise ValueError(msg)
    return output


class Explained:
    """A model with its preprocess composed in front: the function whose gradients we take.

    Inputs and baselines live in pixel space; ``preprocess`` (e.g. ImageNet normalisation) is part
    of the differentiated function, so attributions are in pixel space too.

    With ``layer`` (a submodule), attributions live at that module's output instead: a point is a
    tensor shaped like the layer's output, and :meth:`forward` runs the model on the inputs with
    the layer's output replaced by the point (a forward hook, removed after each forward). The
    inputs may then be integers (token ids). ``forward_kwargs`` are keyword arguments of every
    call of the model: tensors whose first axis has one row per input are indexed with the
    points' input rows (masks, token type ids, lengths); anything else is passed unchanged.
    """

    def __init__(
        self,
        model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
        inputs: object,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        layer: nn.Module | None = None,
        forward_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(model):
            msg = f"model must be an nn.Module or a callable, not {type(model).__name__}"
            raise TypeError(msg)
        if preprocess is not None and not callable(preprocess):
            msg = f"preprocess must be callable (e.g. torchvision.transforms.Normalize), not {preprocess!r}"
            raise TypeError(msg)
        self.model = model
        self.preprocess = preprocess
        self.module = model if isinstance(model, nn.Module) else nn.Module()
        self.device = model_device(self.module)
        self.layer, self.layer_name = _check_layer(layer, model)
        self.inputs = check_inputs(inputs, self.device, integer=layer is not None)
        if self.inputs.is_floating_point():
            check_dtype(self.inputs, self.module)
        self.per_example, self.fixed_kwargs = _split_kwargs(forward_kwargs, len(self.inputs))
        _warn_final_softmax(self.module)
        #: The memory format batches are fed in: channels-last where it pays, decided per call; the
        #: engine switches to contiguous for the rest of the call when the model refuses it.
        self.memory_format = torch.channels_last if self.channels_last_candidate() else torch.contiguous_format

    @property
    def needs_rows(self) -> bool:
        """Whether every point must say which input it belongs to (a layer, or per-example arguments)."""
        return self.layer is not None or bool(self.per_example)

    def channels_last_candidate(self) -> bool:
        """Whether to try channels-last batches (see ``attrwidgets.config.channels_last``)."""
        setting = config.channels_last
        if setting is False or self.inputs.dim() != 4 or not self.inputs.is_floating_point():
            return False
        if setting is True:
            return True
        return (
            self.inputs.device.type == "cpu"
            and torch.backends.mkldnn.is_available()
            and any(isinstance(m, nn.Conv2d) for m in self.module.modules())
        )

    def refuse_channels_last(self) -> None:
        """The model failed on a channels-last batch: contiguous batches for the rest of this call."""
        self.memory_format = torch.contiguous_format

    def kwargs_for(self, rows: torch.Tensor | None) -> dict[str, Any]:
        """The model's keyword arguments for points of inputs ``rows`` (None: no per-example ones)."""
        if not self.per_example:
            return self.fixed_kwargs
        kwargs = dict(self.fixed_kwargs)
        if rows is not None:
            for key, value in self.per_example.items():
                kwargs[key] = value[rows.to(value.device)]
        return kwargs

    def forward(
        self,
        z: torch.Tensor | None,
        rows: torch.Tensor | None = None,
        feed: torch.Tensor | None = None,
        *,
        requires_grad: bool = False,
        until_layer: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The model's (B, classes) output at points ``z``, and the point as a leaf of the graph.

        Without a layer, ``z`` are inputs in pixel space. With one, ``z`` replaces the layer's
        output in a forward on ``feed`` (default: the inputs ``rows``); ``z=None`` keeps the
        layer's own output, which is returned as the point (so the pass at the inputs gives the
        layer's output and the gradient there in one forward). ``requires_grad``: the point is a
        leaf that requires grad, for the gradient with respect to it. ``until_layer`` (at a layer,
        with ``z=None``): the forward stops once the layer has run and the output is None; only the
        layer's output is wanted (a baseline's or a reference's), so the layers above it are not run.
        """
        kwargs = self.kwargs_for(rows)
        if self.layer is None:
            leaf = z.detach().requires_grad_(requires_grad)
            return self._call(leaf, kwargs), leaf
        if feed is None:
            if rows is None:
                msg = "internal: a point at a layer needs the input rows it belongs to (Points.rows)"
                raise RuntimeError(msg)
            feed = self.inputs[rows.to(self.inputs.device)]
        given = None if z is None else z.detach().requires_grad_(requires_grad)
        seen: list[torch.Tensor] = []

        def substitute(module: nn.Module, args: tuple, output: object) -> torch.Tensor:
            if seen:
                msg = (
                    f"layer {self.layer_name} ran more than once in one forward (a reused module): attribution at "
                    "a layer needs one output per input; pass a module that runs once"
                )
                raise ValueError(msg)
            if not isinstance(output, torch.Tensor) or not output.is_floating_point():
                kind = type(output).__name__ if not isinstance(output, torch.Tensor) else f"{output.dtype} tensor"
                msg = (
                    f"layer {self.layer_name} returned a {kind}, not a float tensor: pick a module whose output is "
                    "one float tensor (for a Hugging Face model, model.embeddings.word_embeddings)"
                )
                raise TypeError(msg)
            if given is None:
                leaf = output.detach().requires_grad_(requires_grad)
            else:
                if given.shape != output.shape:
                    msg = (
                        f"layer {self.layer_name} outputs shape {tuple(output.shape)} but the point has shape "
                        f"{tuple(given.shape)}: a baseline at a layer must be shaped like the layer's output"
                    )
                    raise ValueError(msg)
                leaf = given
            seen.append(leaf)
            if until_layer:
                raise _LayerReached
            # a copy: an in-place op downstream (ReLU(inplace=True)) changes it, not the point
            return leaf.clone()

        handle = self.layer.register_forward_hook(substitute)
        try:
            output = self._call(feed, kwargs)
        except _LayerReached:
            output = None
        finally:
            handle.remove()
        if not seen:
            msg = f"layer {self.layer_name} did not run in the model's forward: pass a module the forward calls"
            raise ValueError(msg)
        return output, seen[0]

    def _call(self, z: torch.Tensor, kwargs: dict[str, Any]) -> torch.Tensor:
        if z.dim() == 4 and z.is_floating_point() and z.stride() != _strides(z.shape, self.memory_format):
            # Exactly the call's layout: with one channel, a channels-last batch passes
            # is_contiguous() yet a convolution treats it as channels-last (differentiable copy)
            z = z.clone(memory_format=self.memory_format)
        if self.preprocess is None:
            return as_2d_output(self.model(z, **kwargs))
        z = self.preprocess(z)
        try:
            return as_2d_output(self.model(z, **kwargs))
        except RuntimeError as err:  # torch's own words come from deep inside the model
            dtype = model_dtype(self.model)
            if dtype is None or not z.is_floating_point() or z.dtype == dtype:
                raise
            msg = (
                f"preprocess returned dtype {z.dtype} but the model's parameters are {dtype}: make the "
                f"preprocess keep its input's dtype (no .double() or .float() inside it, its buffers as the model's), "
                f"or convert the model (model.to({z.dtype}))"
            )
            raise TypeError(msg) from err

    def logits(self, z: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The model's (B, classes) output at points ``z`` (pixel space, or the layer's output)."""
        return self.forward(z, rows)[0]

    def scores(self, z: torch.Tensor, target: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The explained score F(z) = model(preprocess(z))[target] per row, shape (B,)."""
        return self.logits(z, rows).gather(1, target.view(-1, 1)).squeeze(1)


class _LayerReached(BaseException):  # a signal, not an error
    """Raised in the layer's hook to end a forward once its output is known (``until_layer``).

    A BaseException, as KeyboardInterrupt is, so that a model's own ``except Exception`` does not
    take it for its error; a model that catches it anyway runs to the end, which costs only time.
    """


def _check_layer(layer: object, model: object) -> tuple[nn.Module | None, str]:
    """``layer`` and its name in the model; a clear error for a non-module or a module of another model."""
    if layer is None:
        return None, ""
    if not isinstance(layer, nn.Module):
        msg = (
            f"layer must be a submodule of the model (e.g. model.embeddings), not {type(layer).__name__}; "
            "leave it None to attribute at the inputs"
        )
        raise TypeError(msg)
    if isinstance(model, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return layer, name or type(layer).__name__
        msg = f"layer {type(layer).__name__} is not a submodule of the model: pass one of model.named_modules()"
        raise ValueError(msg)
    return layer, type(layer).__name__  # a callable model: the layer is checked by running it


def _split_kwargs(forward_kwargs: object, n: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(per-example tensors, the rest): tensors whose first axis has ``n`` rows are per example."""
    if forward_kwargs is None:
        return {}, {}
    if not isinstance(forward_kwargs, Mapping) or not all(isinstance(k, str) for k in forward_kwargs):
        msg = (
            "forward_kwargs must be a dict of the model's keyword arguments, e.g. "
            f"{{'attention_mask': mask}}, not {type(forward_kwargs).__name__}"
        )
        raise TypeError(msg)
    per_example, fixed = {}, {}
    for key, value in forward_kwargs.items():
        if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == n:
            per_example[key] = value.detach()
        else:
            fixed[key] = value
    return per_example, fixed


def _strides(shape: torch.Size, memory_format: torch.memory_format) -> tuple[int, ...]:
    """The strides of a dense 4-D tensor of ``shape`` in ``memory_format``."""
    _, c, h, w = shape
    if memory_format is torch.channels_last:
        return (h * w * c, 1, w * c, c)
    return (c * h * w, h * w, w, 1)


def _warn_final_softmax(module: nn.Module) -> None:
    last = None
    for last in module.modules():  # noqa: B007 - we want the last module
        pass
    if isinstance(last, nn.Softmax) and last is not module:
        warn(
            f"the model ends in {type(last).__name__}: its output saturates, so gradients vanish and "
            "attributions shrink. Explain the logits instead (remove the final layer, or wrap the model)."
        )
