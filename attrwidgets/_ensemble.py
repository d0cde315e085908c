"""Training several small classifiers of one architecture at once, as one stacked network.

:func:`attrwidgets.evaluate.roar` retrains a fresh model for every method, fraction and seed
(135 DigitsCNNs for the benchmark). :func:`fit_stacked` trains K of them in one loop: model k's
layers sit side by side in one wider network (a convolution's K copies become one grouped
convolution, K linear layers one batched matrix product), every step takes model k's next batch
from its own shuffle order and its own training set, and the loss is the sum of the K models'
mean cross-entropies, so each model receives exactly its own gradient. Adam is element-wise, so
one Adam over the stacked parameters is K independent Adams with a shared step count. The
result equals K runs of :func:`attrwidgets.evaluate.train_epochs` up to float rounding (a grouped
convolution adds in another order than K single ones).

Why not ``torch.func.vmap`` over ``functional_call`` (the documented ensembling pattern)? It was
measured on the DigitsCNN and gave no speed-up on a CPU: its convolution rule runs K models as a
grouped convolution in NCHW order and its max-pooling rule folds the models into the batch, so
every layer copies between the two layouts, and NCHW max-pooling is the slowest kernel of the
step. Here the stacked activations stay channels-last from the first convolution to the flatten
(each pooling and ReLU runs once over K·C contiguous channels). Measured on the shared 2-core box
(one thread, ``benchmarks/RESULTS-evaluation.md``): a step 1.6–2.0× cheaper per model than one
model's at load ≈ 4, but only 1.0–1.1× over whole trainings at load 5–8, where a stack's larger
activations no longer stay in the cache; the training is bound by arithmetic and memory traffic,
not by per-op overhead.

Only what can be translated exactly is stacked: an ``nn.Sequential`` (nested allowed, ``forward``
not overridden) of ``Conv2d`` (zero padding), ``Linear``, 2-d pooling, ``Flatten`` and element-wise
activations, with no buffers (no BatchNorm), no dropout, no hooks and no parametrisations. Before
training, the stacked forward is checked against every model's own forward on its first batch.
Anything else returns ``None`` and the caller trains the models one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

__all__ = ["fit_stacked", "stack_refusal"]

#: Modules applied unchanged to stacked activations: element-wise, no parameters, no randomness.
_ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Hardtanh,
                nn.Softplus, nn.Identity)  # fmt: skip
#: Modules that act on each channel of an (N, C, H, W) tensor alone: run once over the K·C stacked channels.
_PER_CHANNEL = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_TOLERANCE = {"rtol": 1e-3, "atol": 1e-5}


def _leaves(module: nn.Module) -> list[nn.Module] | None:
    """The layers of a (nested) plain ``nn.Sequential`` in call order, or None for any other module."""
    if isinstance(module, nn.Sequential):
        if type(module).forward is not nn.Sequential.forward:
            return None
        out: list[nn.Module] = []
        for child in module:
            inner = _leaves(child)
            if inner is None:
                return None
            out += inner
        return out
    return [module]


def _layer_refusal(layer: nn.Module) -> str | None:
    kind = type(layer)
    if kind is nn.Conv2d:
        return None if layer.padding_mode == "zeros" else f"Conv2d with padding_mode={layer.padding_mode!r}"
    if kind is nn.Linear or kind in _ELEMENTWISE:
        return None
    if kind in _PER_CHANNEL:
        return "MaxPool2d with return_indices" if getattr(layer, "return_indices", False) else None
    if kind is nn.Flatten:
        return None if (layer.start_dim, layer.end_dim) == (1, -1) else "Flatten other than Flatten(1, -1)"
    return f"a {kind.__name__} layer"


def _hooked(module: nn.Module) -> bool:
    return any(getattr(module, name, None) for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                                                        "_backward_pre_hooks", "parametrizations"))  # fmt: skip


def stack_refusal(models: Sequence[nn.Module]) -> str | None:
    """Why ``models`` cannot be trained as one stacked network, or None when they can."""
    if not models:
        return "no models"
    from torch.nn.modules import module as module_globals

    if any(getattr(module_globals, name, None) for name in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                                            "_global_backward_hooks")):  # fmt: skip
        return "global module hooks are registered"
    signature = None
    for model in models:
        layers = _leaves(model)
        if layers is None:
            return f"{type(model).__name__} is not a plain nn.Sequential"
        for layer in layers:
            reason = _layer_refusal(layer)
            if reason is not None:
                return reason
        if any(True for _ in model.buffers()):
            return "the model has buffers (BatchNorm or similar)"
        if any(_hooked(m) for m in model.modules()):
            return "the model has hooks or parametrisations"
        params = list(model.parameters())
        if not params or not all(p.requires_grad for p in params):
            return "the model has no parameters, or frozen ones"
        if len({(p.dtype, p.device) for p in params}) != 1:
            return "the parameters differ in dtype or device"
        mine = [(type(m), m.extra_repr(), tuple(tuple(p.shape) for p in m.parameters(recurse=False))) for m in layers]
        if signature is None:
            signature = mine
        elif mine != signature:
            return "the models differ in architecture"
    return None


@dataclass
class _Stacked:
    """K copies of one ``nn.Sequential`` as one network; parameters hold model k's slice at index k."""

    layers: list[nn.Module]
    params: list[list[torch.Tensor]]  # per layer: its stacked parameters (weight, bias)
    count: int

    @classmethod
    def of(cls, models: Sequence[nn.Module]) -> _Stacked:
        per_model = [_leaves(m) for m in models]
        params = []
        with torch.no_grad():
            for i, layer in enumerate(per_model[0]):
                own = [list(layers[i].parameters(recurse=False)) for layers in per_model]
                if type(layer) is nn.Conv2d:  # (K·C_out, C_in / groups, kh, kw), channels-last like the activations
                    stacked = [torch.cat(ps).contiguous(memory_format=torch.channels_last) if ps[0].dim() == 4
                               else torch.cat(ps) for ps in zip(*own, strict=True)]  # fmt: skip
                else:  # Linear: (K, out, in) and (K, out)
                    stacked = [torch.stack(ps) for ps in zip(*own, strict=True)]
                params.append([p.detach().clone(memory_format=torch.preserve_format).requires_grad_()
                               for p in stacked])  # fmt: skip
        return cls(per_model[0], params, len(models))

    def parameters(self) -> list[torch.Tensor]:
        return [p for ps in self.params for p in ps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, *input shape) → (K, B, outputs): model k's output for its own batch ``x[k]``."""
        k = self.count
        grouped = False  # True: (B, K·C, H, W) channels-last, model k's channels at k·C … (k+1)·C − 1
        for layer, ps in zip(self.layers, self.params, strict=True):
            kind = type(layer)
            if kind is nn.Conv2d:
                if not grouped:
                    x = _to_grouped(x)
                    grouped = True
                weight, bias = ps[0], (ps[1] if len(ps) > 1 else None)
                x = nn.functional.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation,
                                         layer.groups * k)  # fmt: skip
            elif kind in _PER_CHANNEL:
                if not grouped:
                    x = _to_grouped(x)
                    grouped = True
                x = layer(x)
            elif kind is nn.Flatten:
                if grouped:
                    x = _from_grouped(x, k)
                    grouped = False
                x = x.flatten(2)
            elif kind is nn.Linear:
                if grouped:
                    x = _from_grouped(x, k)
                    grouped = False
                if x.dim() != 3:
                    msg = f"stacked Linear takes (K, B, features), got {tuple(x.shape)}"
                    raise ValueError(msg)
                weight = ps[0].transpose(1, 2)
                x = torch.baddbmm(ps[1].unsqueeze(1), x, weight) if len(ps) > 1 else torch.bmm(x, weight)
            else:  # element-wise
                x = layer(x)
        return _from_grouped(x, k) if grouped else x

    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Copy model k's trained slice into ``models[k]``'s own parameters."""
        with torch.no_grad():
            for i, ps in enumerate(self.params):
                for m, model in enumerate(models):
                    own = list(_leaves(model)[i].parameters(recurse=False))
                    for mine, stacked in zip(own, ps, strict=True):
                        if type(self.layers[i]) is nn.Conv2d:
                            size = stacked.shape[0] // self.count
                            mine.copy_(stacked[m * size : (m + 1) * size])
                        else:
                            mine.copy_(stacked[m])


def _to_grouped(x: torch.Tensor) -> torch.Tensor:
    """(K, B, C, H, W) → (B, K·C, H, W), stored channels-last."""
    k, b, c, h, w = x.shape
    return x.permute(1, 3, 4, 0, 2).reshape(b, h, w, k * c).permute(0, 3, 1, 2)


def _from_grouped(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, K·C, H, W) → (K, B, C, H, W)."""
    b, kc, h, w = x.shape
    return x.view(b, k, kc // k, h, w).transpose(0, 1)


def fit_stacked(
    models: Sequence[nn.Module],
    images: Sequence[torch.Tensor],
    labels: torch.Tensor,
    seeds: Sequence[int],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
) -> list[nn.Module] | None:
    """Train ``models[k]`` on ``images[k]`` as ``train_epochs(..., seed=seeds[k])`` would, all at once.

    Parameters
    ----------
    models : sequence of nn.Module
        Freshly initialised models of one architecture; trained in place and returned in eval mode.
    images : sequence of (N, …) tensors, or objects indexed by a (B,) long tensor
        Model k's training images (the same object may be given for several models).
    labels : (N,) long tensor
        Shared by all models.
    seeds : sequence of int
        Model k's shuffle order comes from ``torch.Generator().manual_seed(seeds[k])``, as in
        :func:`attrwidgets.evaluate.train_epochs`.

    Returns
    -------
    list of nn.Module or None
        None, with every model untouched, when the models cannot be stacked (see the module's
        docstring) or the stacked forward does not reproduce the models' own on the first batch.
    """
    if stack_refusal(models) is not None or not (len(models) == len(images) == len(seeds)):
        return None
    n = len(labels)
    stacked = _Stacked.of(models)
    shuffles = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    device = labels.device
    rows = torch.arange(len(models), device=device).unsqueeze(1)
    optimizer = torch.optim.Adam(stacked.parameters(), lr=lr)
    checked = False
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(device)
        for start in range(0, n, batch_size):
            batch = orders[:, start : start + batch_size]
            x = torch.stack([data[batch[k]] for k, data in enumerate(images)])
            y = labels[batch]
            if not checked:
                if not _reproduces(stacked, models, x):
                    return None
                for model in models:
                    model.train()
                checked = True
            optimizer.zero_grad(set_to_none=True)
            out = stacked.forward(x)
            count = out.shape[1]
            loss = nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), reduction="none")
            loss.view(rows.shape[0], count).mean(1).sum().backward()
            optimizer.step()
    stacked.write_back(models)
    return [model.eval() for model in models]


def _reproduces(stacked: _Stacked, models: Sequence[nn.Module], x: torch.Tensor) -> bool:
    """Does the stacked forward give each model's own output on its batch? (False if it raises.)"""
    try:
        with torch.no_grad():
            out = stacked.forward(x)
            own = torch.stack([model(x[k]) for k, model in enumerate(models)])
    except (RuntimeError, ValueError, TypeError, IndexError):
        return False
    return out.shape == own.shape and bool(torch.allclose(out, own, **_TOLERANCE))
