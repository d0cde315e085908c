"""Side-by-side benchmarks of attrwidgets against its peers, measured in one run on this machine.

Usage::

    .venv/bin/python benchmarks/run.py                 # everything (~25 min on an idle 2-core machine)
    .venv/bin/python benchmarks/run.py --quick         # fewer repetitions and cases (< 3 min idle)
    .venv/bin/python benchmarks/run.py --only ig_speed # one section: ig_speed, memory, auto, methods

Every section writes ``benchmarks/results/<section>.json``; ``benchmarks/RESULTS.md`` is rebuilt
from all the JSON files present after each run, so a disturbed section can be re-run alone
(``--report``: rebuild only). Sections kept by hand (the GPU notes, the numbers that docstrings
point to) live in ``benchmarks/NOTES.md``, which the rebuild appends verbatim: edit them there.

Timing protocol: ``torch.set_num_threads(2)``, every candidate of a comparison is warmed up once,
then the repetitions are interleaved (one run of each candidate per round, the order rotated
between rounds) and the median is reported; ratios compare candidates of the same run. Memory is
measured in a fresh subprocess per case (psutil polling of the RSS every 2 ms plus ``ru_maxrss``),
under ``RLIMIT_AS`` so a peer that needs too much fails with an allocation error instead of
taking the machine down.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
#: hand-kept sections, appended verbatim to the generated RESULTS.md
NOTES = HERE / "NOTES.md"
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message=".*completeness gap.*")

GIB = 2**30
STEPS = 50
FLOOR_CHUNKS = (5, 8, 10, 16, 25, 50)
CAPTUM_BATCHES = (None, 5, 10, 20)
CPU_CHUNKS = (5, 8, 10, 16)
GRID = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
UNIFORM_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_middle")
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "motorcycle")


# --------------------------------------------------------------------------------------------
# models, inputs and timing
# --------------------------------------------------------------------------------------------
def setup() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)


def load_model(name: str) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(model, preprocess, preprocess→model) in eval mode; ResNet-18 has random weights (timing only)."""
    from attrwidgets.demo import imagenet_preprocess, load_efficientnet_lite0

    if name == "resnet18":
        import torchvision

        torch.manual_seed(0)
        model = torchvision.models.resnet18(weights=None).eval()
    elif name == "efficientnet_lite0":
        model = load_efficientnet_lite0().eval()
    else:
        raise ValueError(name)
    pre = imagenet_preprocess()
    return model, pre, nn.Sequential(pre, model).eval()


def image(name: str = "chelsea") -> torch.Tensor:
    from attrwidgets.demo import photos

    return photos()[name][None].contiguous()


def predicted(composed: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(composed(x).argmax(1))


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def interleaved(cands: dict, reps: int, *, inner: int = 1, log: str = "") -> dict[str, list[float]]:
    """Warm up every candidate once, then ``reps`` interleaved rounds; seconds per call, per candidate."""
    names = list(cands)
    for name in names:
        cands[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(inner):
                cands[name]()
            times[name].append((time.perf_counter() - t0) / inner)
            cpu[name].append((time.process_time() - c0) / inner)
        done = ", ".join(f"{n}={times[n][-1]:.3f}" for n in names)
        print(f"  {log} round {r + 1}/{reps} load={load()}: {done}", flush=True)
    CPU_TIMES.update({f"{log} {n}": v for n, v in cpu.items()})
    return times


#: process CPU seconds of every candidate of the last interleaved() calls, keyed "<log> <name>"
CPU_TIMES: dict[str, list[float]] = {}


def cpu_of(log: str, names) -> dict[str, list[float]]:
    return {n: CPU_TIMES[f"{log} {n}"] for n in names}


def med(values: list[float]) -> float:
    return statistics.median(values)


@contextlib.contextmanager
def cpu_chunk(value: int):
    from attrwidgets import config

    old = config.cpu_chunk
    config.cpu_chunk = value
    try:
        yield
    finally:
        config.cpu_chunk = old


def with_config(fn, *args, channels_last: bool | str = "auto", **kwargs):
    """``fn(*args, **kwargs)`` with ``attrwidgets.config.channels_last`` set for the call."""
    from attrwidgets import config

    old = config.channels_last
    config.channels_last = channels_last
    try:
        return fn(*args, **kwargs)
    finally:
        config.channels_last = old


def floor_ig(
    composed: nn.Module, x: torch.Tensor, target: int, alphas, weights, chunk: int, cl: bool = False
) -> torch.Tensor:
    """The floor: plain torch, chunked fwd+bwd over the path points, weighted sum of the gradients.

    ``cl``: the points in channels-last memory format (what ``config.channels_last`` does).
    """
    fmt = torch.channels_last if cl else torch.contiguous_format
    base = torch.zeros_like(x)
    diff = x - base
    a = torch.as_tensor(alphas, dtype=x.dtype).view(-1, 1, 1, 1)
    w = torch.as_tensor(weights, dtype=x.dtype).view(-1, 1, 1, 1)
    acc = torch.zeros_like(x)
    for s in range(0, len(a), chunk):
        z = (base + a[s : s + chunk] * diff).contiguous(memory_format=fmt).requires_grad_(True)
        out = composed(z)
        (g,) = torch.autograd.grad(out[:, target].sum(), z)
        acc += (g * w[s : s + chunk]).sum(0, keepdim=True)
    return acc * diff


def floor_chunks(
    composed: nn.Module, x: torch.Tensor, target: int, points: torch.Tensor, chunk: int, cl: bool = False
) -> torch.Tensor:
    """Plain chunked fwd+bwd over given points: the mean gradient (the floor for SmoothGrad/EG)."""
    fmt = torch.channels_last if cl else torch.contiguous_format
    acc = torch.zeros_like(x)
    for s in range(0, len(points), chunk):
        z = points[s : s + chunk].clone(memory_format=fmt).requires_grad_(True)
        (g,) = torch.autograd.grad(composed(z)[:, target].sum(), z)
        acc += g.sum(0, keepdim=True)
    return acc / len(points)


# --------------------------------------------------------------------------------------------
# 1. IG speed
# --------------------------------------------------------------------------------------------
def ig_speed(quick: bool) -> dict:
    from captum.attr import IntegratedGradients

    from attrwidgets import integrated_gradients
    from attrwidgets.methods.quadrature import rule_points

    alphas, weights = rule_points("gausslegendre", STEPS)
    reps = 3
    out: dict = {"reps": reps, "steps": STEPS, "rule": "gausslegendre", "models": {}}
    x = image()
    for model_name in ("resnet18", "efficientnet_lite0"):
        model, pre, composed = load_model(model_name)
        t = predicted(composed, x)
        captum = IntegratedGradients(composed)
        zeros = torch.zeros_like(x)

        def ours(trace: bool, chunk: int = 10, model=model, pre=pre, t=t):
            with cpu_chunk(chunk):
                return integrated_gradients(
                    model, x, t, baseline="black", steps=STEPS, rule="gausslegendre", preprocess=pre, trace=trace
                )

        cands = {"ours (trace=True)": lambda: ours(True), "ours (trace=False)": lambda: ours(False)}
        cands["ours channels_last=False"] = lambda: with_config(ours, True, channels_last=False)
        chunks = (10,) if quick else CPU_CHUNKS
        for c in chunks:
            if c != 10:
                cands[f"ours cpu_chunk={c}"] = lambda c=c: ours(True, c)
        for b in (None, 10) if quick else CAPTUM_BATCHES:
            cands[f"captum ibs={b}"] = lambda b=b, captum=captum, zeros=zeros, t=t: captum.attribute(
                x, baselines=zeros, target=t, n_steps=STEPS, method="gausslegendre", internal_batch_size=b
            )
        for c in (10, 50) if quick else FLOOR_CHUNKS:
            cands[f"floor chunk={c}"] = lambda c=c, composed=composed, t=t: floor_ig(composed, x, t, alphas, weights, c)
        cands["floor chunk=10 channels_last"] = lambda composed=composed, t=t: floor_ig(
            composed, x, t, alphas, weights, 10, cl=True
        )
        # agreement check (not timed): ours vs Captum vs floor
        a_ours = ours(True).values
        a_cap = captum.attribute(x, baselines=zeros, target=t, n_steps=STEPS, method="gausslegendre")
        a_floor = floor_ig(composed, x, t, alphas, weights, 10)
        scale = a_cap.abs().max().item()
        agree = {
            "max|ours-captum|/max|captum|": (a_ours - a_cap).abs().max().item() / scale,
            "max|floor-captum|/max|captum|": (a_floor - a_cap).abs().max().item() / scale,
        }
        print(f"[ig_speed] {model_name}: target {t}, agreement {agree}", flush=True)
        load_before = load()
        times = interleaved(cands, reps, log=f"[ig_speed] {model_name}")
        entry = {
            "target": t,
            "agreement": agree,
            "load_before": load_before,
            "load_after": load(),
            "times": times,
            "median": {k: med(v) for k, v in times.items()},
            "cpu": cpu_of(f"[ig_speed] {model_name}", times),
        }
        entry["breakdown"] = ig_breakdown(model, pre, x, t, quick)
        out["models"][model_name] = entry
    return out


def ig_breakdown(model, pre, x, t, quick: bool) -> dict:
    """Where ours spends its time: each part of one IG call timed by wrapping the engine's functions."""
    from attrwidgets import integrated_gradients
    from attrwidgets.methods import _engine, path_state, paths
    from attrwidgets.model import Explained

    acc: dict[str, float] = {}
    originals = {}
    labels: list[str] = []

    def wrap(owner, name, label):
        fn = getattr(owner, name)  # AttributeError when the engine renames it: fix the names below
        originals[(owner, name)] = fn
        if label not in labels:
            labels.append(label)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[label] = acc.get(label, 0.0) + time.perf_counter() - t0

        setattr(owner, name, timed)

    rows = []
    runs = 1 if quick else 3
    for trace in (True, False):
        for _ in range(runs):
            acc.clear()
            # paths.first_pass: the name integrated_gradients calls (imported from _engine);
            # _engine.input_gradient: what every chunk with grad=True calls (module global)
            wrap(paths, "first_pass", "first pass at alpha=1 (fwd+bwd, 1 point)")
            # the one forward the engine calls (Explained.forward once it exists; logits before)
            fwd = "forward" if hasattr(Explained, "forward") else "logits"
            wrap(Explained, fwd, "forward (every model call: first pass, path chunks, baseline)")
            wrap(_engine, "input_gradient", "backward (every backward: first pass + path chunks)")
            wrap(path_state.Path, "_store", "Path._store (per-point bookkeeping, maps)")
            wrap(path_state.Path, "_trace", "Path._trace (stack, cumsum, float16)")
            wrap(path_state.Path, "finish", "Path.finish incl. baseline fwd and _trace")
            try:
                gc.collect()
                t0 = time.perf_counter()
                integrated_gradients(model, x, t, baseline="black", steps=STEPS, preprocess=pre, trace=trace)
                total = time.perf_counter() - t0
            finally:
                for (owner, name), fn in originals.items():
                    setattr(owner, name, fn)
                originals.clear()
            missing = [label for label in labels if label not in acc]
            if missing:  # a wrapped name the call no longer goes through: its part would read 0
                print(f"[ig_speed] breakdown: never called: {missing}", flush=True)
            row = {label: acc.get(label, 0.0) for label in labels}
            row["total"] = total
            row["trace"] = trace
            rows.append(row)
    # parts nest: the first pass's forward and backward are also counted under "forward"/"backward",
    # the baseline forward under finish and forward, _trace under finish
    out = {}
    for trace in (True, False):
        sel = [r for r in rows if r["trace"] == trace]
        keys = [k for k in sel[0] if k != "trace"]
        out[f"trace={trace}"] = {k: med([r.get(k, 0.0) for r in sel]) for k in keys}
    out["store_cost"] = store_microbench(x)
    return out


def store_microbench(x: torch.Tensor) -> dict:
    """Cost of the bookkeeping for 50 points alone (no model): what _store and _trace add."""
    from attrwidgets.attribution import reduce_channels

    grad = torch.randn(10, *x.shape[1:])
    diff = x.expand(10, -1, -1, -1)
    res = {}

    def curves():
        gx = grad * diff
        gx.flatten(1).sum(1), grad.abs().flatten(1).mean(1)

    def maps():
        gx = grad * diff
        reduce_channels(grad).to(torch.float16), reduce_channels(gx).to(torch.float32)

    def loop():
        score = torch.zeros(10)
        d = {}
        for j in range(10):
            d[j] = (score[j], score[j], score[j])

    for name, fn in (("curves (5 chunks of 10)", curves), ("maps (5 chunks of 10)", maps), ("python loop", loop)):
        fn()
        t0 = time.perf_counter()
        for _ in range(20):
            for _ in range(5):
                fn()
        res[name] = (time.perf_counter() - t0) / 20
    return res


# --------------------------------------------------------------------------------------------
# 2. memory (one subprocess per case)
# --------------------------------------------------------------------------------------------
def child_memory(spec: dict) -> dict:
    """Runs in a fresh process: peak RSS increase of one attribution call."""
    import psutil

    limit = int(spec["limit"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    setup()
    proc = psutil.Process()
    model, pre, composed = load_model(spec["model"])
    x = image()
    t = predicted(composed, x)
    if spec.get("batch", 1) > 1:
        from attrwidgets.demo import photos

        shots = list(photos().values())
        x = torch.stack([shots[i % len(shots)] for i in range(spec["batch"])])
    # warm-up: one fwd+bwd of one image, so both sides start with initialised kernels and pools
    z = x[:1].clone().requires_grad_(True)  # one image even for a batch
    torch.autograd.grad(composed(z)[:, t].sum(), z)
    del z
    gc.collect()
    rss0 = proc.memory_info().rss
    vms0 = proc.memory_info().vms
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = [rss0]
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    error = None
    try:
        if spec["impl"] == "method":
            call_method(spec, model, pre, x, t)
        elif spec["impl"] == "ours":
            from attrwidgets import integrated_gradients

            integrated_gradients(
                model, x, t, baseline="black", steps=spec["steps"], preprocess=pre, trace=spec.get("trace", True)
            )
        else:
            from captum.attr import IntegratedGradients

            IntegratedGradients(composed).attribute(
                x, baselines=torch.zeros_like(x), target=t, n_steps=spec["steps"], method="gausslegendre"
            )
    except (RuntimeError, MemoryError) as err:
        error = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    top = max(peak[0], maxrss1 if maxrss1 > maxrss0 else 0)
    return {
        "rss_before": rss0,
        "vms_before": vms0,
        "peak_rss": top,
        "increase": top - rss0,
        "seconds": seconds,
        "error": error,
    }


def call_method(spec: dict, model: nn.Module, pre: nn.Module, x: torch.Tensor, t: int) -> None:
    """One call of the registered method ``spec["method"]`` with its defaults (EfficientNet-Lite0)."""
    import attrwidgets
    from attrwidgets.demo import photos

    method = attrwidgets.REGISTRY[spec["method"]]
    kwargs: dict = {"preprocess": pre}
    if "layer" in method.needs:
        kwargs["layer"] = model._conv_head
    if "references" in method.needs:
        kwargs["references"] = torch.stack(list(photos().values()))
    if spec.get("memory") is not None:
        kwargs["memory"] = spec["memory"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        method.fn(model, x, t, **kwargs)


#: the budgets every method that takes ``memory=`` is measured under (None: the default, 1 GiB)
METHOD_BUDGETS = (None, "256MiB")


def run_child(spec: dict) -> dict:
    """Runs ``child_memory(spec)`` in a fresh process under RLIMIT_AS; its result, or an error."""
    import psutil

    row: dict = {}
    limit = min(18 * GIB, psutil.virtual_memory().available - 3 * GIB)
    row["limit"] = limit
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child-memory", json.dumps(spec | {"limit": limit})],
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if lines:
            row |= json.loads(lines[-1])
        else:
            row["error"] = f"child exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
    except subprocess.TimeoutExpired:
        row["error"] = "timeout (1500 s)"
    row["wall"] = time.perf_counter() - t0
    return row


def method_memory(quick: bool) -> dict:
    """Peak RSS increase of every registered method with its defaults, under each budget."""
    import attrwidgets
    from attrwidgets.config import parse_memory

    out: dict = {"model": "efficientnet_lite0", "cases": []}
    names = ["gradient", "smoothgrad", "occlusion"] if quick else list(attrwidgets.REGISTRY)
    for name in names:
        takes_budget = "memory" in attrwidgets.REGISTRY[name].options
        for batch in (1, 8):
            for budget in METHOD_BUDGETS if takes_budget else (None,):
                if name == "occlusion" and batch > 1:
                    continue  # forward-only, chunked like the others; 8 images take ~4 minutes
                spec = {"impl": "method", "method": name, "model": "efficientnet_lite0", "memory": budget}
                spec["batch"] = batch
                row = {"method": name, "batch": batch, "load": load(), "takes_budget": takes_budget}
                row["budget"] = parse_memory(budget) if takes_budget else None
                row |= run_child(spec)
                out["cases"].append(row)
                inc = row.get("increase")
                print(
                    f"[method_memory] {name} batch={batch} budget={budget}: +{(inc or 0) / 2**20:.0f} MiB "
                    f"in {row.get('seconds', 0):.1f} s {row.get('error') or ''}",
                    flush=True,
                )
    return out


def memory(quick: bool) -> dict:
    steps_list = (50, 200) if quick else (50, 200, 1000)
    cases = []
    for model_name in ("efficientnet_lite0", "resnet18"):
        for steps in steps_list:
            cases.append(("ours", model_name, steps))
            cases.append(("captum", model_name, steps))
    out: dict = {"limit_note": "", "cases": []}
    for impl, model_name, steps in cases:
        row = {"impl": impl, "model": model_name, "steps": steps, "load": load()}
        if impl == "captum" and steps >= 1000:
            row["skipped"] = (
                "skipped: Captum holds all points' activations at once; the issue measured OOM near 16 GB "
                "(EfficientNet-Lite0 at 200 steps, ResNet-18 at 1000); extrapolated > 16 GB"
            )
            out["cases"].append(row)
            print(f"[memory] {impl} {model_name} {steps}: {row['skipped']}", flush=True)
            continue
        if quick and impl == "captum" and steps > 50:
            row["skipped"] = "skipped in --quick"
            out["cases"].append(row)
            continue
        row |= run_child({"impl": impl, "model": model_name, "steps": steps})
        limit = row["limit"]
        out["cases"].append(row)
        inc = row.get("increase")
        print(
            f"[memory] {impl} {model_name} {steps}: +{(inc or 0) / GIB:.2f} GiB in {row.get('seconds', 0):.1f} s"
            f" (limit {limit / GIB:.1f} GiB) {row.get('error') or ''}",
            flush=True,
        )
    return out


# --------------------------------------------------------------------------------------------
# 3. steps="auto" vs uniform rules
# --------------------------------------------------------------------------------------------
class PathDerivative:
    """F and dF/dα = ∇F(x′ + α(x − x′))·(x − x′) at any α, cached; plain chunked fwd+bwd."""

    def __init__(self, composed: nn.Module, x: torch.Tensor, target: int, chunk: int = 10) -> None:
        self.composed, self.x, self.target, self.chunk = composed, x, target, chunk
        self.cache: dict[float, tuple[float, float]] = {}

    def need(self, alphas) -> None:
        todo = sorted({float(a) for a in alphas} - set(self.cache))
        for s in range(0, len(todo), self.chunk):
            part = todo[s : s + self.chunk]
            a = torch.tensor(part, dtype=self.x.dtype).view(-1, 1, 1, 1)
            z = (a * self.x).requires_grad_(True)  # black baseline: x′ = 0
            score = self.composed(z)[:, self.target]
            (g,) = torch.autograd.grad(score.sum(), z)
            deriv = (g.double() * self.x.double()).flatten(1).sum(1)
            for k, al in enumerate(part):
                self.cache[al] = (float(score[k].detach()), float(deriv[k]))

    def gap(self, rule: str, steps: int) -> float:
        from attrwidgets.methods.quadrature import rule_points

        alphas, weights = rule_points(rule, steps)
        self.need([*alphas.tolist(), 0.0, 1.0])
        integral = sum(w * self.cache[float(a)][1] for a, w in zip(alphas, weights, strict=True))
        span = self.cache[1.0][0] - self.cache[0.0][0]
        return abs(integral - span) / max(abs(span), 1e-12)


def auto(quick: bool) -> dict:
    from attrwidgets import integrated_gradients
    from attrwidgets.demo import photos

    model, pre, composed = load_model("efficientnet_lite0")
    pics = photos()
    names = PHOTOS[:1] if quick else PHOTOS
    rules = ("gausslegendre",) if quick else UNIFORM_RULES
    out: dict = {"photos": {}, "quick": quick, "sustained": SUSTAINED}
    for name in names:
        x = pics[name][None].contiguous()
        t = predicted(composed, x)
        t0 = time.perf_counter()
        attr = integrated_gradients(model, x, None, baseline="black", steps="auto", preprocess=pre, trace=False)
        row: dict = {
            "target": t,
            "auto_evaluations": int(attr.trace.evaluations),
            "auto_gap": float(attr.relative_delta[0]),
            "auto_converged": bool(attr.params.get("converged", True)),
            "auto_seconds": time.perf_counter() - t0,
            "rules": {},
        }
        deriv = PathDerivative(composed, x, t)
        for rule in rules:
            gaps = {}
            for n in GRID:
                gaps[n] = deriv.gap(rule, n)
                if not SUSTAINED and gaps[n] < 0.01:
                    break
            first = next((n for n in GRID if n in gaps and gaps[n] < 0.01), None)
            sustained = None
            if SUSTAINED:
                for n in reversed(GRID):
                    if gaps[n] < 0.01:
                        sustained = n
                    else:
                        break
            row["rules"][rule] = {"gaps": gaps, "first_hit": first, "sustained": sustained}
        # cross-check the plain-torch gaps with the library's fixed rule at one grid value
        check = integrated_gradients(
            model, x, t, baseline="black", steps=32, rule="gausslegendre", preprocess=pre, trace=False
        )
        row["check_gl32"] = {"library": float(check.relative_delta[0]), "plain": deriv.gap("gausslegendre", 32)}
        row["evaluations_for_grid"] = len(deriv.cache)
        print(f"[auto] {name}: {json.dumps(row, default=str)[:600]}", flush=True)
        out["photos"][name] = row
    return out


# --------------------------------------------------------------------------------------------
# 4. other methods: SmoothGrad, Grad-CAM, Expected Gradients
# --------------------------------------------------------------------------------------------
def methods(quick: bool) -> dict:
    import attrwidgets

    model, pre, composed = load_model("efficientnet_lite0")
    x = image()
    t = predicted(composed, x)
    reps = 3
    out: dict = {"target": t, "reps": reps}
    samples = 50
    sigma = 0.15
    std = sigma * float(x.max() - x.min())

    # ---- SmoothGrad
    sg = getattr(attrwidgets, "smoothgrad", None)
    if sg is None:
        with contextlib.suppress(ImportError):
            from attrwidgets.methods import smoothgrad as sg
    if sg is not None:
        from captum.attr import NoiseTunnel, Saliency

        nt = NoiseTunnel(Saliency(composed))
        gen = torch.Generator().manual_seed(0)
        noisy = x + std * torch.randn((samples, *x.shape[1:]), generator=gen)
        cands = {
            "ours smoothgrad": lambda: sg(model, x, t, sigma=sigma, samples=samples, preprocess=pre),
            "ours smoothgrad channels_last=False": lambda: with_config(
                sg, model, x, t, sigma=sigma, samples=samples, preprocess=pre, channels_last=False
            ),
        }
        for b in (None, 10):
            cands[f"captum NoiseTunnel nt_samples_batch_size={b}"] = lambda b=b: nt.attribute(
                x, nt_type="smoothgrad", nt_samples=samples, stdevs=std, nt_samples_batch_size=b, target=t, abs=False
            )
        pair = pair_smoothgrad(composed, x, t, samples, sigma)
        if pair is not None:
            cands["PAIR saliency SmoothGrad (1 sample at a time)"] = pair
        else:
            out["smoothgrad_pair"] = "saliency not importable"
        for c in (10, 50):
            cands[f"floor chunk={c}"] = lambda c=c: floor_chunks(composed, x, t, noisy, c)
        cands["floor chunk=10 channels_last"] = lambda: floor_chunks(composed, x, t, noisy, 10, cl=True)
        times = interleaved(cands, reps, log="[smoothgrad]")
        out["smoothgrad"] = {
            "times": times,
            "median": {k: med(v) for k, v in times.items()},
            "cpu": cpu_of("[smoothgrad]", times),
            "load": load(),
        }
    else:
        out["smoothgrad"] = "attrwidgets.smoothgrad not importable"

    # ---- Grad-CAM
    gc_fn = getattr(attrwidgets, "grad_cam", None)
    if gc_fn is None:
        with contextlib.suppress(ImportError):
            from attrwidgets.methods import grad_cam as gc_fn
    if gc_fn is not None:
        from captum.attr import LayerAttribution, LayerGradCam

        layer = model._conv_head
        lgc = LayerGradCam(composed, layer)
        cands = {
            "ours grad_cam": lambda: gc_fn(model, x, t, layer=layer, preprocess=pre),
            "captum LayerGradCam (+bilinear upsample)": lambda: LayerAttribution.interpolate(
                lgc.attribute(x, target=t, relu_attributions=True), (224, 224), "bilinear"
            ),
        }
        try:
            from pytorch_grad_cam import GradCAM
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

            cam = GradCAM(model=composed, target_layers=[layer])
            cands["pytorch-grad-cam GradCAM"] = lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(t)])
        except Exception as err:
            out["gradcam_peer"] = f"pytorch-grad-cam not usable: {err!r}"
        times = interleaved(cands, reps * 2, inner=5, log="[grad_cam]")
        out["grad_cam"] = {
            "times": times,
            "median": {k: med(v) for k, v in times.items()},
            "cpu": cpu_of("[grad_cam]", times),
            "load": load(),
        }
    else:
        out["grad_cam"] = "attrwidgets.grad_cam not importable"

    # ---- Expected Gradients
    eg = getattr(attrwidgets, "expected_gradients", None)
    if eg is None:
        with contextlib.suppress(ImportError):
            from attrwidgets.methods import expected_gradients as eg
    if eg is not None:
        from captum.attr import GradientShap

        from attrwidgets.demo import photos

        refs = torch.stack([v for k, v in photos().items() if k != "chelsea"])
        gen = torch.Generator().manual_seed(1)
        refs64 = torch.rand((64, *x.shape[1:]), generator=gen)
        gs = GradientShap(composed)
        idx = torch.randint(len(refs), (samples,), generator=gen)
        al = torch.rand(samples, generator=gen).view(-1, 1, 1, 1)
        eg_points = refs[idx] + al * (x - refs[idx])
        cands = {
            "ours expected_gradients (5 refs)": lambda: eg(
                model, x, t, references=refs, samples=samples, preprocess=pre
            ),
            "ours expected_gradients (64 refs)": lambda: eg(
                model, x, t, references=refs64, samples=samples, preprocess=pre
            ),
            "ours expected_gradients (5 refs, trace=False)": lambda: eg(
                model, x, t, references=refs, samples=samples, preprocess=pre, trace=False
            ),
            "captum GradientShap (5 refs)": lambda: gs.attribute(
                x, baselines=refs, n_samples=samples, stdevs=0.0, target=t
            ),
            "floor chunk=10": lambda: floor_chunks(composed, x, t, eg_points, 10),
            "floor chunk=10 channels_last": lambda: floor_chunks(composed, x, t, eg_points, 10, cl=True),
        }
        times = interleaved(cands, reps, log="[expected_gradients]")
        out["expected_gradients"] = {
            "times": times,
            "median": {k: med(v) for k, v in times.items()},
            "cpu": cpu_of("[expected_gradients]", times),
            "load": load(),
        }
    else:
        out["expected_gradients"] = "attrwidgets.expected_gradients not importable"
    return out


def pair_smoothgrad(composed: nn.Module, x: torch.Tensor, t: int, samples: int, sigma: float):
    """PAIR saliency's GradientSaliency.GetSmoothedMask: one sample per model call (HWC numpy)."""
    try:
        import saliency.core as saliency
    except ImportError:
        return None
    image_hwc = x[0].permute(1, 2, 0).numpy()

    def call_model(images, call_model_args=None, expected_keys=None):
        z = torch.from_numpy(images).permute(0, 3, 1, 2).float().requires_grad_(True)
        (g,) = torch.autograd.grad(composed(z)[:, t].sum(), z)
        return {saliency.base.INPUT_OUTPUT_GRADIENTS: g.permute(0, 2, 3, 1).numpy()}

    explainer = saliency.GradientSaliency()
    return lambda: explainer.GetSmoothedMask(
        image_hwc, call_model, {}, stdev_spread=sigma, nsamples=samples, magnitude=False
    )


# --------------------------------------------------------------------------------------------
# RESULTS.md
# --------------------------------------------------------------------------------------------
def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ok(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


def report() -> str:
    # this script's sections (and gpu.py's, listed in the table); other scripts' JSON files
    # in results/ (benchmarks/evaluation.py's evaluation_*.json) are theirs to report
    names = sorted([*SECTIONS, "gpu"])
    data = {n: json.loads((RESULTS / f"{n}.json").read_text()) for n in names if (RESULTS / f"{n}.json").exists()}
    lines = ["# Benchmarks", ""]
    lines += [
        "Generated by `benchmarks/run.py` from `benchmarks/results/*.json`. Every ratio compares",
        "candidates measured side by side in the same run (interleaved rounds after a warm-up,",
        "median); `torch.set_num_threads(2)`. ResNet-18 has random weights (timing only).",
        "",
        "| section | date | machine | torch | captum | load average (1, 5, 15 min) at start |",
        "|---|---|---|---|---|---|",
    ]
    for name, d in data.items():
        m = d["meta"]
        lines.append(
            f"| {name} | {m['date']} | {m['nproc']} CPUs, {m['machine']} | {m['torch']} | {m['captum']} "
            f"| {m['load_start']} {'(quick)' if m['quick'] else ''} |"
        )
    lines.append("")
    lines.append(
        "The load average shows other processes on this shared 2-core machine (test runs of other "
        "developers): absolute seconds are inflated by it, the interleaved ratios much less."
    )
    lines.append("")
    if "ig_speed" in data:
        lines += report_ig(data["ig_speed"])
    if "memory" in data:
        lines += report_memory(data["memory"])
    if "method_memory" in data:
        lines += report_method_memory(data["method_memory"])
    if "auto" in data:
        lines += report_auto(data["auto"])
    if "methods" in data:
        lines += report_methods(data["methods"])
    lines += [
        "",
        "## 5. The explorer widget",
        "",
        "Frame rate, latency from a control change to the coarse and full results, and bytes per update:",
        "see [RESULTS-widget.md](RESULTS-widget.md) (`benchmarks/widget_bench.py`).",
        "",
        "Uniform rules after their first dip under 1 % (the astronaut photo): see",
        "[RESULTS-auto-sustained.md](RESULTS-auto-sustained.md) (`benchmarks/auto_sustained.py`).",
    ]
    text = "\n".join(lines) + "\n"
    if NOTES.exists():  # the hand-kept sections, verbatim
        text += "\n" + NOTES.read_text().strip("\n") + "\n"
    return text


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ")]


def write_report() -> None:
    """Rebuild RESULTS.md; warn about any section of the old file the rebuild would not write."""
    path = HERE / "RESULTS.md"
    text = report()
    if path.exists():
        lost = [h for h in headings(path.read_text()) if h not in headings(text)]
        if lost:
            print(
                f"warning: {path.name} had sections the rebuild does not write (move them to "
                f"{NOTES.name} to keep them; the old file is saved as {path.name}.bak): {lost}",
                flush=True,
            )
            path.with_name(path.name + ".bak").write_text(path.read_text())
    path.write_text(text)
    print(f"wrote {path}")


def report_ig(d: dict) -> list[str]:
    lines = [f"## 1. Integrated Gradients, {d['steps']} steps ({d['rule']}), one 224² image", ""]
    for model_name, e in d["models"].items():
        med_ = e["median"]
        cap = {k: v for k, v in med_.items() if k.startswith("captum")}
        flo = {k: v for k, v in med_.items() if k.startswith("floor")}
        cap_best = min(cap, key=cap.get)
        flo_best = min(flo, key=flo.get)
        lines += [
            f"### {model_name} (target {e['target']}; load {e['load_before']} → {e['load_after']})",
            "",
            f"Captum best: `{cap_best}`; floor best: `{flo_best}`. {d['reps']} interleaved rounds.",
            "",
            "| candidate | median wall | ÷ Captum best | ÷ floor best | wall, all rounds (s) "
            "| median CPU | CPU ÷ Captum best (CPU) | CPU ÷ floor best (CPU) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        cpu = {k: med(v) for k, v in e.get("cpu", {}).items()}
        ccap = min(v for k, v in cpu.items() if k.startswith("captum")) if cpu else None
        cflo = min(v for k, v in cpu.items() if k.startswith("floor")) if cpu else None
        for k, v in sorted(med_.items(), key=lambda kv: kv[1]):
            rounds = ", ".join(f"{s:.2f}" for s in e["times"][k])
            cc = f"{fmt_s(cpu[k])} | {cpu[k] / ccap:.3f} | {cpu[k] / cflo:.3f}" if cpu else "– | – | –"
            lines.append(f"| {k} | {fmt_s(v)} | {v / cap[cap_best]:.3f} | {v / flo[flo_best]:.3f} | {rounds} | {cc} |")
        ours = med_["ours (trace=True)"]
        lines += [
            "",
            f"Goal (issue 9) ≤ 1.0× Captum best: {ok(ours <= 1.0 * cap[cap_best])} ({ours / cap[cap_best]:.3f}×); "
            f"goal ≤ 1.07× floor: {ok(ours <= 1.07 * flo[flo_best])} ({ours / flo[flo_best]:.3f}×) "
            "(default `trace=True`).",
        ]
        chunks = {k: v for k, v in med_.items() if "cpu_chunk" in k}
        if chunks:
            chunks["ours cpu_chunk=10 (default)"] = ours
            best = min(chunks, key=chunks.get)
            lines.append(f"Fastest `config.cpu_chunk` for {model_name}: `{best}` ({fmt_s(chunks[best])}).")
        lines += ["", f"Agreement (not timed): {json.dumps({k: f'{v:.2e}' for k, v in e['agreement'].items()})}", ""]
        bd = e.get("breakdown")
        if bd:
            lines += ["Where ours spends its time (one call, engine functions wrapped with timers, median):", ""]
            lines += ["| part | trace=True | trace=False |", "|---|---|---|"]
            keys = list(bd["trace=True"])
            for k in keys:
                lines.append(f"| {k} | {fmt_s(bd['trace=True'][k])} | {fmt_s(bd['trace=False'].get(k, 0.0))} |")
            lines.append("")
            sc = bd.get("store_cost", {})
            if sc:
                lines.append(
                    "Bookkeeping alone, 50 points, no model: "
                    + ", ".join(f"{k} {fmt_s(v)}" for k, v in sc.items())
                    + "."
                )
                lines.append("")
    return lines


def report_memory(d: dict) -> list[str]:
    lines = [
        "## 2. Peak memory of IG (RSS increase over the loaded, warmed-up model)",
        "",
        "Fresh subprocess per case; RSS polled every 2 ms and `ru_maxrss`; `RLIMIT_AS` = min(18 GiB, "
        "available − 3 GiB) at launch. Ours: default budget (1 GiB).",
        "",
        "| model | steps | impl | peak increase | seconds | load | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in d["cases"]:
        inc = r.get("increase")
        inc_s = f"{inc / GIB:.2f} GiB ({inc / 2**20:.0f} MiB)" if inc is not None else "–"
        note = r.get("skipped") or r.get("error") or ""
        if r.get("error") and r.get("limit"):
            note += f" (limit {r['limit'] / GIB:.1f} GiB of address space)"
        lines.append(
            f"| {r['model']} | {r['steps']} | {r['impl']} | {inc_s} | {r.get('seconds', 0):.1f} "
            f"| {r['load']} | {note} |"
        )
    ours = [r for r in d["cases"] if r["impl"] == "ours" and r.get("increase") is not None]
    under = all(r["increase"] <= GIB and not r.get("error") for r in ours)
    lines += ["", f"Goal: ours under the 1 GiB budget at every step count: {ok(under)}.", ""]
    return lines


def report_method_memory(d: dict) -> list[str]:
    lines = [
        "## 2b. Peak memory of every method (RSS increase over the loaded, warmed-up model)",
        "",
        f"{d['model']}, the method's defaults, 224² photos; a fresh subprocess per case, measured as in",
        "section 2. *Budget*: the `memory=` given (blank: the default `config.memory`, 1 GiB); methods",
        "without a `memory=` option make one forward and backward of the batch and are held to the default.",
        "",
        "| method | images | budget | peak increase | under budget | seconds | load |",
        "|---|---|---|---|---|---|---|",
    ]
    met = True
    for r in d["cases"]:
        inc = r.get("increase")
        budget = r["budget"] if r.get("budget") is not None else GIB
        under = inc is not None and not r.get("error") and inc <= budget
        met &= under
        given = f"{budget / 2**20:.0f} MiB" if r.get("takes_budget") and r.get("budget") != GIB else "default"
        inc_s = f"{inc / 2**20:.0f} MiB" if inc is not None else r.get("error", "–")
        lines.append(
            f"| {r['method']} | {r['batch']} | {given} | {inc_s} | {'yes' if under else '**no**'} "
            f"| {r.get('seconds', 0):.1f} | {r['load']} |"
        )
    lines += ["", f"Goal: every method's peak memory under the budget: {ok(met)}.", ""]
    return lines


def report_auto(d: dict) -> list[str]:
    lines = [
        '## 3. `steps="auto"` vs uniform rules (EfficientNet-Lite0, black baseline, predicted class)',
        "",
        "Relative gap = |Σ attributions − (F(x) − F(x′))| / |F(x) − F(x′)|; uniform rules with weights that "
        "sum to 1 (ours). Uniform evaluations = steps (as Captum counts them); auto's count includes its "
        "α = 0 and α = 1 points. *First hit*: smallest grid steps with gap < 1 %; *sustained*: smallest "
        "from which every larger grid value stays < 1 %. Grid: " + ", ".join(map(str, GRID)) + ".",
        "",
        "| photo | auto evals | auto gap | "
        + " | ".join(f"{r} first / sustained" for r in UNIFORM_RULES)
        + " | best uniform first / sustained | auto ÷ best (first) | auto ÷ best (sustained) |",
        "|---|---|---|" + "---|" * len(UNIFORM_RULES) + "---|---|---|",
    ]
    met = True
    for name, r in d["photos"].items():
        cells = []
        firsts, sus = [], []
        for rule in UNIFORM_RULES:
            rr = r["rules"].get(rule)
            if rr is None:
                cells.append("–")
                continue
            f, s = rr["first_hit"], rr["sustained"]
            cells.append(f"{f or '>512'} / {s or ('>512' if d.get('sustained') else 'not run')}")
            firsts.append(f or 10**6)
            sus.append(s or 10**6)
        bf, bs = min(firsts), min(sus)
        ev = r["auto_evaluations"]
        rf = f"{ev / bf:.2f}" if bf < 10**6 else "< 0.03"
        rs = f"{ev / bs:.2f}" if bs < 10**6 else ("< 0.03" if d.get("sustained") else "–")
        met &= ev <= 0.5 * bf and r["auto_gap"] < 0.01
        lines.append(
            f"| {name} | {ev} | {r['auto_gap']:.2%} | "
            + " | ".join(cells)
            + f" | {bf if bf < 10**6 else '>512'} / {bs if bs < 10**6 else '–'} | {rf} | {rs} |"
        )
    lines += [
        "",
        f"Goal: auto reaches 1 % with ≤ ½ the evaluations of the best uniform rule's first hit, on every "
        f"photo: {ok(met)}.",
        "",
        "<details><summary>gaps per rule and steps</summary>",
        "",
    ]
    for name, r in d["photos"].items():
        lines.append(f"- **{name}** (target {r['target']}; check GL-32 library vs plain: {r['check_gl32']})")
        for rule, rr in r["rules"].items():
            gaps = ", ".join(f"{n}: {float(g):.2%}" for n, g in rr["gaps"].items())
            lines.append(f"  - {rule}: {gaps}")
    lines += ["", "</details>", ""]
    return lines


def report_methods(d: dict) -> list[str]:
    lines = [f"## 4. Other methods, EfficientNet-Lite0, one 224² image (target {d['target']})", ""]
    specs = (
        ("smoothgrad", "SmoothGrad, 50 samples, σ = 15 % of the range", "ours smoothgrad", "captum", "PAIR"),
        ("grad_cam", "Grad-CAM on `_conv_head`", "ours grad_cam", "captum", "pytorch-grad-cam"),
        ("expected_gradients", "Expected Gradients, 50 samples", "ours expected_gradients (5 refs)", "captum", None),
    )
    for key, title, ours_key, cap_prefix, peer_prefix in specs:
        e = d.get(key)
        lines += [f"### {title}", ""]
        if not isinstance(e, dict):
            lines += [str(e), ""]
            continue
        med_ = e["median"]
        cap = {k: v for k, v in med_.items() if k.startswith(cap_prefix)}
        cap_best = min(cap, key=cap.get)
        lines += [
            f"Load at end: {e['load']}.",
            "",
            "| candidate | median wall | ÷ Captum best | wall, all rounds (s) | median CPU | CPU ÷ Captum best (CPU) |",
            "|---|---|---|---|---|---|",
        ]
        cpu = {k: med(v) for k, v in e.get("cpu", {}).items()}
        ccap = min(v for k, v in cpu.items() if k.startswith(cap_prefix)) if cpu else None
        for k, v in sorted(med_.items(), key=lambda kv: kv[1]):
            rounds = ", ".join(f"{s:.3f}" for s in e["times"][k])
            cc = f"{fmt_s(cpu[k])} | {cpu[k] / ccap:.3f}" if cpu else "– | –"
            lines.append(f"| {k} | {fmt_s(v)} | {v / cap[cap_best]:.3f} | {rounds} | {cc} |")
        ours = med_[ours_key]
        goal = f"Goal ≤ 1.05× Captum best: {ok(ours <= 1.05 * cap[cap_best])} ({ours / cap[cap_best]:.3f}×)"
        if peer_prefix:
            peer = {k: v for k, v in med_.items() if k.startswith(peer_prefix)}
            if peer:
                pv = min(peer.values())
                need = 1.25 if key == "smoothgrad" else 2.5
                goal += f"; ≥ {need}× faster than {peer_prefix}: {ok(pv / ours >= need)} ({pv / ours:.2f}×)"
        lines += ["", goal + ".", ""]
    return lines


# --------------------------------------------------------------------------------------------
def meta(quick: bool) -> dict:
    import captum

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
        "nproc": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch": torch.__version__,
        "captum": captum.__version__,
        "threads": torch.get_num_threads(),
        "load_start": load(),
        "quick": quick,
        **revision(),
    }


def revision() -> dict:
    """The commit measured, and the files of the package that differ from it (others' edits)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = git("status", "--porcelain", "--", "attrwidgets")
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "changed": [ln[3:] for ln in changed.splitlines()]}


#: evaluate every grid value (for "sustained"); otherwise each rule stops at its first hit
SUSTAINED = False

SECTIONS = {
    "ig_speed": ig_speed,
    "methods": methods,
    "auto": auto,
    "memory": memory,
    "method_memory": method_memory,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and cases")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only this section")
    parser.add_argument("--report", action="store_true", help="only rebuild RESULTS.md from results/*.json")
    parser.add_argument("--child-memory", help=argparse.SUPPRESS)
    parser.add_argument("--sustained", action="store_true", help="auto: evaluate the whole grid (slow)")
    args = parser.parse_args()
    global SUSTAINED
    SUSTAINED = args.sustained
    if args.child_memory:
        print(json.dumps(child_memory(json.loads(args.child_memory))), flush=True)
        return
    setup()
    RESULTS.mkdir(exist_ok=True)
    if not args.report:
        for name in args.only or list(SECTIONS):
            t0 = time.perf_counter()
            info = meta(args.quick)
            print(f"== {name} (load {info['load_start']})", flush=True)
            try:
                result = SECTIONS[name](args.quick)
            except Exception:  # keep going: the other sections still run and report
                import traceback

                traceback.print_exc()
                print(f"== {name} FAILED", flush=True)
                continue
            info["seconds"] = time.perf_counter() - t0
            result["meta"] = info
            (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
            print(f"== {name} done in {info['seconds']:.0f} s", flush=True)
    write_report()


if __name__ == "__main__":
    main()
