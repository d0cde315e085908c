"""Wrapping a model: preprocess composed into the differentiated function, input checks, targets."""

from __future__ import annotations

import contextlib
import numbers
from typing import TYPE_CHECKING

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


def check_inputs(inputs: object, device: torch.device | None, *, name: str = "inputs") -> torch.Tensor:
    """Validate ``inputs`` and return a detached tensor that shares nothing writable with the caller's."""
    if not isinstance(inputs, torch.Tensor):
        hint = " (for a numpy array: torch.from_numpy(a).float())" if type(inputs).__module__ == "numpy" else ""
        msg = f"{name} must be a torch.Tensor with a batch dimension, not {type(inputs).__name__}{hint}"
        raise TypeError(msg)
    if not inputs.is_floating_point():
        kind = "integer" if not inputs.dtype.is_complex and inputs.dtype != torch.bool else str(inputs.dtype)
        msg = (
            f"{name} have dtype {inputs.dtype} ({kind}): gradients need floating-point inputs. "
            "For token ids, attribute the embeddings instead: pass model.embed(ids) as inputs and a "
            "model that starts after the embedding layer (a zero embedding is the usual baseline). "
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
        bad = (~torch.isfinite(x)).sum()
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

    ``None`` means the predicted class (index 0 for a one-output model); an int is used for every
    input; a list, tuple or tensor gives one per input.
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
        if isinstance(target, numbers.Integral):
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
    """

    def __init__(
        self,
        model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
        inputs: object,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
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
        self.inputs = check_inputs(inputs, self.device)
        check_dtype(self.inputs, self.module)
        _warn_final_softmax(self.module)
        #: The memory format batches are fed in: channels-last where it pays, decided per call; the
        #: engine switches to contiguous for the rest of the call when the model refuses it.
        self.memory_format = torch.channels_last if self.channels_last_candidate() else torch.contiguous_format

    def channels_last_candidate(self) -> bool:
        """Whether to try channels-last batches (see ``attrwidgets.config.channels_last``)."""
        setting = config.channels_last
        if setting is False or self.inputs.dim() != 4:
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

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The model's (B, classes) output at points ``z`` in pixel space."""
        if z.dim() == 4 and z.stride() != _strides(z.shape, self.memory_format):
            # Exactly the call's layout: with one channel, a channels-last batch passes
            # is_contiguous() yet a convolution treats it as channels-last (differentiable copy)
            z = z.clone(memory_format=self.memory_format)
        if self.preprocess is not None:
            z = self.preprocess(z)
        return as_2d_output(self.model(z))

    def scores(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The explained score F(z) = model(preprocess(z))[target] per row, shape (B,)."""
        return self.logits(z).gather(1, target.view(-1, 1)).squeeze(1)


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
