"""What the token explorer computes: a text-capable method at an embedding layer, as a payload.

:class:`TextExplainer` holds the model, the tokenizer, the layer and the labels; called with the
kernel-side controls (sentences, method, target, the method's options) it tokenizes, runs the
method at the layer with the attention mask as a per-example forward argument, and returns one
payload (binary parts as :mod:`~attrwidgets.widgets._wire` dicts):

- ``rows``: per sentence its tokens, word groups and words, the predicted class and its
  probability, the explained target, F(x), F(x′), Σ token scores and the completeness gap;
- ``scores``: the token scores (N, T) float32 (values summed over the embedding);
- ``path`` (a path method's trace): α (N, K), per α the attribution accumulated up to α and the
  gradient at α per token (N, K', T) at K' ≤ ``max_frames`` points, and the curves (N, K). The
  last point (α = 1) accumulates everything: it is sent as the token scores themselves, at full
  precision (the trace keeps its maps in float16).

Which methods are text-capable is read from the registry: those with a ``layer`` control of kind
``module`` that do not need a layer to exist (Grad-CAM's convolutions).
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from attrwidgets.hooks import ModelGuard
from attrwidgets.registry import REGISTRY, Method
from attrwidgets.widgets._capture import capture, install
from attrwidgets.widgets._methods import OPTION_KINDS, method_title
from attrwidgets.widgets._text_input import encode_texts, texts_of
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, encode

__all__ = ["MAX_FRAMES", "TextExplainer", "text_methods"]

MAX_FRAMES = 64
"""Most α points whose per-token maps are sent (the curves use every point)."""
_MARGIN = 256 * 1024  # the tokens, the curves and the JSON of an update


def text_methods() -> list[Method]:
    """The registry's methods that attribute at a module's output (a text model's embeddings)."""
    return [
        m
        for m in REGISTRY.values()
        if any(c.name == "layer" and c.kind == "module" for c in m.controls) and "layer" not in m.needs
    ]


def method_menu(references: bool = False) -> list[dict[str, Any]]:
    """The method menu: name, title, whether it is available here and why not."""
    out = []
    for m in text_methods():
        missing = [c.name for c in m.controls if c.kind == "tensor" and c.default is None and not references]
        why = f"needs {', '.join(missing)}" if missing else ""
        steps = next((c for c in m.controls if c.name == "steps"), None)
        out.append({"name": m.name, "title": method_title(m.name), "available": not missing, "why": why,
                    "steps": steps is not None, "trace": "trace" in m.produces})  # fmt: skip
    return out


def resolve_layer(model: nn.Module, layer: object) -> tuple[nn.Module, str]:
    """The layer module and its name, from a module of ``model``, its name, or None (the first embedding)."""
    named = dict(model.named_modules())
    if layer is None:
        found = [(n, m) for n, m in named.items() if isinstance(m, nn.Embedding)]
        if not found:
            msg = (
                "layer= is needed: the model has no nn.Embedding to attribute at; pass the module whose output "
                "holds the token embeddings (e.g. layer=model.embeddings.word_embeddings)"
            )
            raise ValueError(msg)
        return found[0][1], found[0][0]
    if isinstance(layer, str):
        if layer not in named or not layer:
            close = [n for n in named if n and ("emb" in n.lower() or layer.split(".")[-1] in n)][:8]
            msg = f"layer={layer!r} is not a module of this model; give one of its named modules, e.g. {close}"
            raise ValueError(msg)
        return named[layer], layer
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return module, name
        msg = (
            f"layer={type(layer).__name__} is not a module of this model: give a submodule of the model "
            "(e.g. layer=model.embedding), or its name"
        )
        raise ValueError(msg)
    msg = f"layer must be a module of the model or its name, not {type(layer).__name__}"
    raise TypeError(msg)


def _accepted(model: nn.Module, names: Sequence[str]) -> tuple[list[str], bool]:
    """Which of ``names`` the model's forward takes as keywords, and whether it takes **kwargs."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return list(names), True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return list(names), True
    known = {p.name for p in params}
    return [n for n in names if n in known], False


class TextExplainer:
    """A text-capable method at ``layer`` for the token explorer; see the module docstring."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        layer: object = None,
        labels: Sequence[str] | None = None,
        max_frames: int = MAX_FRAMES,
    ) -> None:
        if not isinstance(model, nn.Module):
            kind = type(model).__name__
            msg = f"model must be a torch.nn.Module (the token explorer attributes at one of its layers), not {kind}"
            raise TypeError(msg)
        install()
        self.model = model
        self.tokenizer = tokenizer
        self.layer, self.layer_name = resolve_layer(model, layer)
        self.labels = list(labels) if labels is not None else None
        self.max_frames = max(2, int(max_frames))
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self.classes = 0
        """Classes of the model's output (known after the first forward)."""

    def label(self, index: int) -> str:
        if self.labels is not None and 0 <= index < len(self.labels):
            return str(self.labels[index])
        return f"class {index}"

    def encode(self, texts: object) -> Any:
        """The sentences tokenized and padded (:class:`~attrwidgets.widgets._text_input.Encoded`)."""
        return encode_texts(self.tokenizer, texts_of(texts))

    def forward_kwargs(self, encoded: Any) -> tuple[dict[str, torch.Tensor], list[str]]:
        """The per-token tensors the model's forward takes (attention mask, token types), on its device."""
        names, _ = _accepted(self.model, list(encoded.extra))
        kwargs = {n: encoded.extra[n].to(self.device) for n in names}
        notes = []
        if "attention_mask" not in kwargs and bool((encoded.mask == 0).any()):
            notes.append("the model's forward takes no attention_mask: shorter sentences are padded with the pad id")
        return kwargs, notes

    def probabilities(self, ids: torch.Tensor, kwargs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Softmax of the model's scores at the sentences, (N, classes) float64 on the CPU.

        The same forward checks that the output is (N, classes) and that the layer runs and gives
        one row per token, (N, T, ...); the number of classes is kept in ``classes``.
        """
        seen: list[tuple[int, ...]] = []
        caller = threading.get_ident()

        def record(_module: nn.Module, _args: object, output: object) -> None:
            if threading.get_ident() == caller:  # not the session's worker, which may run the model meanwhile
                seen.append(tuple(output.shape) if isinstance(output, torch.Tensor) else ())

        handle = self.layer.register_forward_hook(record)
        try:
            with ModelGuard(self.model), torch.inference_mode(False), torch.no_grad():
                logits = self.model(ids, **kwargs)
        finally:
            handle.remove()
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or len(logits) != len(ids):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            msg = (
                f"the model must return (N, classes) scores for (N, T) token ids, got {got}; wrap it, e.g. a module "
                "whose forward returns model(ids, **kwargs).logits (a Hugging Face model's output object)"
            )
            raise ValueError(msg)
        if not seen:
            msg = f"layer={self.layer_name!r} did not run in the model's forward: pick a module the forward uses"
            raise ValueError(msg)
        if len(seen[0]) < 2 or seen[0][:2] != tuple(ids.shape):
            msg = (
                f"layer={self.layer_name!r} outputs shape {seen[0]} for token ids of shape {tuple(ids.shape)}; the "
                "token explorer needs one row per token, (N, T, E): pick the token embedding layer"
            )
            raise ValueError(msg)
        self.classes = int(logits.shape[1])
        return torch.softmax(logits.detach().double().cpu(), dim=1)

    def top_classes(self, texts: object, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` classes with the highest mean probability over the sentences."""
        encoded = self.encode(texts)
        kwargs, _ = self.forward_kwargs(encoded)
        probs = self.probabilities(encoded.ids.to(self.device), kwargs).mean(0)
        order = torch.argsort(probs, descending=True)[: max(1, k)].tolist()
        return [{"index": int(i), "label": self.label(int(i)), "prob": float(probs[i])} for i in order]

    def options(self, method: Method, params: dict[str, Any]) -> dict[str, Any]:
        """The method's keyword arguments: its validated options, the layer and the baseline."""
        kwargs = {c.name: params[c.name] for c in method.controls
                  if c.name in params and c.kind in OPTION_KINDS and c.name != "layer"}  # fmt: skip
        kwargs["layer"] = self.layer
        if method.takes_baseline:
            kwargs["baseline"] = params.get("baseline", "zero")
        return kwargs

    def __call__(self, params: dict[str, Any], stage: str, progress: Callable[[int, int], None]) -> dict[str, Any]:
        started = time.perf_counter()
        name = params.get("method") or "integrated_gradients"
        method = REGISTRY[name]
        encoded = self.encode(params["texts"])
        forward, notes = self.forward_kwargs(encoded)
        ids = encoded.ids.to(self.device)
        probs = self.probabilities(ids, forward)
        predicted = probs.argmax(1)
        target = params.get("target")
        targets = predicted.clone() if target is None or target < 0 else torch.full_like(predicted, int(target))
        kwargs = self.options(method, params)
        if "progress" in method.options:
            kwargs["progress"] = progress
        with capture() as caught:
            attribution = method.fn(self.model, ids, targets.to(self.device), forward_kwargs=forward, **kwargs)
        notes += encoded.notes + [str(w.message) for w in caught]
        computed = time.perf_counter()
        payload = self.payload(attribution, encoded, probs, params, stage, notes)
        payload["timings"] = {"attribution": computed - started, "payload": time.perf_counter() - computed}
        return payload

    def payload(
        self, attribution: Any, encoded: Any, probs: torch.Tensor, params: dict[str, Any], stage: str, notes: list[str]
    ) -> dict[str, Any]:
        """The result dict for ``attribution`` of the ``encoded`` sentences; see the module docstring."""
        scores = attribution.token_scores.detach().double().cpu()
        predicted = probs.argmax(1)
        relative = attribution.relative_delta
        rows = []
        for i, tokens in enumerate(encoded.tokens):
            t = int(attribution.target[i])
            p = int(predicted[i])
            rows.append({
                "tokens": tokens,
                "groups": encoded.groups[i],
                "words": encoded.words[i],
                "target": t,
                "target_label": self.label(t),
                "predicted": p,
                "predicted_label": self.label(p),
                "prob": float(probs[i, p]),
                "target_prob": float(probs[i, t]),
                "score": float(attribution.score[i]) if attribution.score is not None else math.nan,
                "baseline_score": (
                    float(attribution.baseline_score[i]) if attribution.baseline_score is not None else None
                ),
                "sum": float(scores[i, : len(tokens)].sum()),
                "delta": float(attribution.delta[i]) if attribution.delta is not None else None,
                "relative_delta": float(relative[i]) if relative is not None else None,
            })  # fmt: skip
        has_path = attribution.trace is not None and attribution.trace.cumulative_maps is not None
        payload: dict[str, Any] = {
            "view": "path" if has_path else "map",
            "method": attribution.method,
            "method_title": method_title(attribution.method),
            "stage": stage,
            "layer": self.layer_name,
            "rows": rows,
            "length": int(scores.shape[1]),
            "scores": encode(scores, "float32"),
            "notes": notes,
            "params": {k: v for k, v in attribution.params.items() if isinstance(v, (int, float, str, bool))},
            "_attribution": attribution,  # kept in the kernel (TextExplorer.attribution), never sent
        }
        if payload["view"] == "path":
            payload["path"] = self.path_payload(attribution, scores)
            trace = attribution.trace
            payload["evaluations"] = int(trace.evaluations)
            payload["steps"] = int(trace.alphas.shape[1])
            payload["rule_used"] = str(attribution.params.get("rule", ""))
            seen = set(trace.predicted.unique().tolist()) if trace.predicted is not None else set()
        else:
            seen = set()
        seen |= {r["target"] for r in rows} | {r["predicted"] for r in rows}
        payload["labels"] = {str(c): self.label(int(c)) for c in sorted(seen)}
        return payload

    def path_payload(self, attribution: Any, scores: torch.Tensor) -> dict[str, Any]:
        """α, the per-α token maps at up to ``max_frames`` points, and the curves of every input."""
        trace = attribution.trace
        count = int(trace.alphas.shape[1])
        n, length = scores.shape
        # two float32 stacks (accumulated, gradient) of F frames must fit in one update
        affordable = (MAX_UPDATE_BYTES - _MARGIN - 16 * n * count) // max(1, 2 * 4 * n * length)
        frames = frame_indices(count, max(2, min(self.max_frames, affordable)))
        predicted = trace.predicted if trace.predicted is not None else torch.zeros_like(trace.alphas).long()
        cumulative = trace.cumulative_maps[:, frames].float().cpu().clone()
        if float(trace.alphas[:, -1].min()) == 1.0:
            cumulative[:, -1] = scores.float()  # the last point accumulates everything: the scores themselves
        return {
            "alphas": encode(trace.alphas, "float32"),
            "frames": encode(np.asarray(frames, dtype=np.int32)),
            "cumulative": encode(cumulative, "float32"),
            "grad": encode(trace.grad_maps[:, frames].float(), "float32"),
            "scores": encode(trace.scores, "float32"),
            "grad_norm": encode(trace.grad_norm, "float32"),
            "cumulative_sum": encode(trace.cumulative, "float32"),
            "predicted": encode(predicted),
        }


def frame_indices(count: int, most: int) -> list[int]:
    """At most ``most`` indices of 0..count−1, evenly spread, the first and the last always."""
    if count <= most:
        return list(range(count))
    return sorted({round(v) for v in np.linspace(0, count - 1, most)})
