"""Every registered method on every device present: results on the model's device, the model untouched.

Parametrised over ``conftest.DEVICES`` (cpu always, cuda when ``torch.cuda.is_available()``);
``pytest --device cuda`` runs the CUDA half alone (``make gpu-check`` does, through
``benchmarks/gpu.py``). On CUDA the chunk loops of integrated_gradients, smoothgrad and
expected_gradients also run under ``torch.cuda.set_sync_debug_mode("error")``: no host
synchronisation inside the loop.
"""

from __future__ import annotations

import traceback
import warnings
from pathlib import Path

import pytest
import torch

import attrwidgets
from attrwidgets.config import config
from attrwidgets.methods import expected as expected_module
from attrwidgets.methods import noise as noise_module
from attrwidgets.methods import path_state as path_module
from tests.conftest import make_cnn
from tests.probes import assert_clean, model_state

#: Methods whose values are one map per input, (N, 1, H, W), by design (not the inputs' shape).
ONE_CHANNEL = {"grad_cam", "fullgrad"}

#: Options per method beyond its defaults: small, so the whole file runs in seconds on a CPU.
OPTIONS: dict[str, dict] = {
    "integrated_gradients": {"steps": 16},
    "smoothgrad": {"samples": 8},
    "expected_gradients": {"samples": 8},
    "occlusion": {"window": 4, "stride": 4},
}


def _setup(device: str, n: int = 2) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The conftest SmallCNN in float32 on ``device``, left in TRAINING mode with one frozen parameter
    (so "unchanged" means something: a method must put back what it changes), inputs and references."""
    model = make_cnn(dtype=torch.float32, device=device).train()
    model.head.bias.requires_grad_(False)
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(n, 3, 12, 12, generator=generator).to(device)
    refs = torch.rand(6, 3, 12, 12, generator=generator).to(device)
    return model, x, refs


def _kwargs(name: str, model: torch.nn.Module, refs: torch.Tensor) -> dict:
    method = attrwidgets.REGISTRY[name]
    kwargs = dict(OPTIONS.get(name, {}))
    if "references" in method.needs:
        kwargs["references"] = refs
    if "layer" in method.needs:
        kwargs["layer"] = model.features[4]  # the last conv
    return kwargs


def _tensors(attr: attrwidgets.Attribution):
    """(name, tensor) of everything the attribution holds."""
    for field in ("values", "target", "score", "baseline_score", "delta"):
        value = getattr(attr, field)
        if isinstance(value, torch.Tensor):
            yield field, value
    for key, value in attr.parts.items():
        yield f"parts[{key!r}]", value
    if attr.trace is not None:
        for key, value in vars(attr.trace).items():
            if isinstance(value, torch.Tensor):
                yield f"trace.{key}", value


@pytest.mark.filterwarnings("ignore:.*completeness gap")
@pytest.mark.parametrize("name", sorted(attrwidgets.REGISTRY))
def test_method_on_device(name: str, device: str) -> None:
    model, x, refs = _setup(device)
    model_device = next(model.parameters()).device
    before = model_state(model)
    attr = attrwidgets.REGISTRY[name].fn(model, x, None, **_kwargs(name, model, refs))
    values = attr.values
    expected_shape = (len(x), 1, *x.shape[2:]) if name in ONE_CHANNEL else x.shape
    assert values.shape == expected_shape
    assert values.dtype == x.dtype
    assert torch.isfinite(values).all()
    assert values.device == model_device
    assert attr.target.device == model_device
    assert attr.score is not None
    assert attr.score.device == model_device
    wrong = [f"{label} on {t.device}" for label, t in _tensors(attr) if t.device != model_device]
    assert not wrong, f"{name}: not on {model_device}: {wrong}"
    assert model.training
    assert_clean(model, before)  # training flags, requires_grad, .grad, parameters and buffers, no hooks


def test_expected_gradients_references_on_the_cpu(device: str) -> None:
    """The references may live on any device (documented): only the drawn ones move."""
    model, x, refs = _setup(device)
    attr = attrwidgets.expected_gradients(model, x, references=refs.cpu(), samples=8)
    assert attr.values.device == next(model.parameters()).device
    assert torch.isfinite(attr.values).all()


# -- no host synchronisation inside the chunk loop (CUDA) ---------------------------------------
# The chunk loop is the engine's loop over the points, ``_engine.evaluate``: per chunk build the
# points, forward, backward, consume the gradients. Each method module imports that function by
# name (IG's path state lives in ``path_state``), so the check wraps the name in that module: the
# engine's own pass at the inputs (first_pass) stays outside, and so do the forward-only loops
# (``grad=False``: Expected Gradients' reference scores, IG's F(x')). What a method does once
# around the loop is not checked: the pass at the inputs resolves and validates the targets
# (``bool(bad.any())`` in resolve_target, a sync, once per call), the inputs' finiteness check
# (``if bad:``), the index tensors IG builds with torch.tensor(..., device=...) before its loop,
# Expected Gradients' draws on the CPU, and the trace's gathering after the loop.
LOOP_METHODS = {
    "integrated_gradients": (path_module, {"steps": 16, "baseline": "black"}),
    "smoothgrad": (noise_module, {"samples": 12}),
    "expected_gradients": (expected_module, {"samples": 12}),
}
LOOP_FUNCTIONS = ("evaluate",)

_ROOT = Path(attrwidgets.__file__).resolve().parent


def _loop_function(module) -> str:
    for name in LOOP_FUNCTIONS:
        if callable(getattr(module, name, None)):
            return name
    pytest.fail(f"{module.__name__} has none of {LOOP_FUNCTIONS}: update LOOP_FUNCTIONS to the engine's loop")
    return ""  # pragma: no cover


def _site(frames) -> str:
    """The innermost frame in attrwidgets, as path:line: the line that synchronised."""
    inside = [f for f in frames if Path(f.filename).resolve().is_relative_to(_ROOT)]
    frame = (inside or list(frames))[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} ({(frame.line or '').strip()})"


def _guarded(original, mode: str | None, chunks: list[int]):
    """``original`` (the engine's loop) run under ``torch.cuda.set_sync_debug_mode(mode)`` (None: no
    mode, the CPU check of the wiring); ``chunks`` gets the size of every chunk built. Forward-only
    calls (``grad=False``) run unguarded."""

    def loop(explained, count, build, consume, *args, **kwargs):
        if kwargs.get("grad", True) is False:
            return original(explained, count, build, consume, *args, **kwargs)

        def counted(start, stop):
            chunks.append(stop - start)
            return build(start, stop)

        if mode is None:
            return original(explained, count, counted, consume, *args, **kwargs)
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode(mode)
        try:
            return original(explained, count, counted, consume, *args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode(previous)

    return loop


def _loop_case(name: str, n: int, device: str, monkeypatch: pytest.MonkeyPatch):
    """(method, its module, the loop's name there, model, inputs, options), the loop in chunks of 4."""
    module, options = LOOP_METHODS[name]
    model, x, refs = _setup(device, n)
    model.eval()
    kwargs = dict(options, **({"references": refs} if name == "expected_gradients" else {}))
    monkeypatch.setattr(config, "gpu_chunk", 4)  # several chunks, so the loop loops
    monkeypatch.setattr(config, "cpu_chunk", 4)
    monkeypatch.setattr(config, "cpu_chunk_bytes", 0)  # cpu_chunk points a chunk, however small
    return attrwidgets.REGISTRY[name].fn, module, _loop_function(module), model, x, kwargs


@pytest.mark.filterwarnings("ignore:.*completeness gap")
@pytest.mark.parametrize("name", sorted(LOOP_METHODS))
def test_the_loop_guard_sees_the_loop(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU: the wrapper the CUDA check uses is the one the method calls, and it loops."""
    fn, module, loop_name, model, x, kwargs = _loop_case(name, 2, "cpu", monkeypatch)
    chunks: list[int] = []
    monkeypatch.setattr(module, loop_name, _guarded(getattr(module, loop_name), None, chunks))
    attr = fn(model, x, None, **kwargs)
    assert len(chunks) > 1, f"the {loop_name} loop built {len(chunks)} chunk(s)"
    assert max(chunks) <= 4
    assert torch.isfinite(attr.values).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("device", ["cuda"])  # so that --device cpu deselects it
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("name", sorted(LOOP_METHODS))
def test_no_host_sync_inside_the_chunk_loop(name: str, n: int, device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fn, module, loop_name, model, x, kwargs = _loop_case(name, n, device, monkeypatch)
    original = getattr(module, loop_name)
    with warnings.catch_warnings():  # a warm call: lazy CUDA initialisation is not the loop's
        warnings.simplefilter("ignore")
        fn(model, x, None, **kwargs)
    torch.cuda.synchronize()

    chunks: list[int] = []
    monkeypatch.setattr(module, loop_name, _guarded(original, "error", chunks))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*completeness gap")
            attr = fn(model, x, None, **kwargs)
    except RuntimeError as error:
        if "synchroniz" not in str(error):
            raise
        first = _site(traceback.extract_tb(error.__traceback__))
        # again in "warn" mode, to name every synchronising line of the loop, not only the first
        sites: dict[str, int] = {}
        monkeypatch.setattr(module, loop_name, _guarded(original, "warn", []))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(model, x, None, **kwargs)
        for w in caught:
            if "synchroniz" in str(w.message):
                line = f"{Path(w.filename).name}:{w.lineno}"
                sites[line] = sites.get(line, 0) + 1
        pytest.fail(f"{name} (n={n}) synchronises inside the chunk loop, first at {first}; all: {sites}")
    assert len(chunks) > 1, f"the {loop_name} loop built {len(chunks)} chunk(s): the check did not exercise it"
    assert torch.isfinite(attr.values).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("device", ["cuda"])
def test_sync_check_catches_a_sync(device: str) -> None:
    """The guard itself: a .item() inside the guarded call raises, and the mode is put back."""
    t = torch.ones(3, device=device)
    before = torch.cuda.get_sync_debug_mode()

    def loop(explained, count, build, consume, **kwargs):
        consume(build(0, 1))

    guarded = _guarded(loop, "error", [])
    with pytest.raises(RuntimeError, match="synchroniz"):
        guarded(None, 1, lambda start, stop: t.sum().item(), lambda result: None)
    assert torch.cuda.get_sync_debug_mode() == before
