"""GPU check: the device tests on CUDA, then IG, SmoothGrad and Grad-CAM timed against Captum and a floor.

Usage::

    make gpu-check                                  # = .venv/bin/python benchmarks/gpu.py
    .venv/bin/python benchmarks/gpu.py --no-bench   # the device tests only
    .venv/bin/python benchmarks/gpu.py --cpu-smoke  # the benchmark's code paths, tiny, on the CPU (seconds)

1. Prints the CUDA device (``torch.cuda.get_device_name``), or ``no CUDA device: <why>``; then
2. runs ``pytest tests/test_devices.py`` on every device present (``--device cpu --device cuda``):
   every registered method on a small CNN on that device, and the chunk loops of IG, SmoothGrad
   and Expected Gradients under ``torch.cuda.set_sync_debug_mode("error")``;
3. on CUDA only, times IG (64 steps, Gauss-Legendre), SmoothGrad (50 samples) and Grad-CAM on
   ResNet-50 (random weights) and EfficientNet-Lite0 (the demo's offline weights; skipped with
   the reason if it cannot load), batches of 1 and 16 at 224², against Captum (IntegratedGradients
   at a few ``internal_batch_size``, NoiseTunnel(Saliency), LayerGradCam) and a plain-torch floor
   (chunked forward+backward batches). Writes ``benchmarks/results/gpu.json`` and prints a table.
   Throughput ratios are t(other) / t(candidate): above 1, the candidate is faster.

Without CUDA it stops after the CPU device tests and exits with their status (0 when they pass):
nothing is timed on a CPU. Timing reuses ``benchmarks/run.py`` (``interleaved``: one warm-up,
then interleaved rounds, the median), each call followed by ``torch.cuda.synchronize()``; peak
GPU memory is ``torch.cuda.max_memory_allocated()`` over one call, less what was allocated before
it (the model and the inputs), against the call's memory budget. The whole run is meant to take
about 5 minutes on an H200; cases that would start after ``--budget-s`` seconds are skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import run as bench  # noqa: E402  (benchmarks/run.py: timing helpers, floors, models)

warnings.filterwarnings("ignore", message=".*completeness gap.*")

GIB = 2**30
#: a budget large enough that the GPU chunk (config.gpu_chunk), not memory, sets the batch
BIG = "32GiB"


class Plan:
    """Sizes of one run: the real one on CUDA, or a tiny one for ``--cpu-smoke``."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        self.size = 32 if smoke else 224
        self.batches = (1, 2) if smoke else (1, 16)
        self.steps = 4 if smoke else 64
        self.samples = 3 if smoke else 50
        self.reps = 1 if smoke else 3
        self.max_points = 4 if smoke else 512  # the most points a peer gets in one batch
        self.chunks = (2, 4) if smoke else (32, 256)  # the floor's chunk sizes (points per batch)


def device_status() -> tuple[bool, str]:
    """(CUDA usable, the device's name or why not)."""
    if torch.cuda.is_available():
        return True, torch.cuda.get_device_name(0)
    if torch.version.cuda is None:
        return False, f"torch {torch.__version__} is built without CUDA"
    try:
        torch.cuda.init()
        why = "torch.cuda.is_available() is False"
    except Exception as error:  # the message is the reason we print
        why = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no device: {why}"


def device_tests(devices: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_devices.py"]
    for d in devices:
        cmd += ["--device", d]
    print("$ " + " ".join(cmd[2:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


# --------------------------------------------------------------------------------------------
# models and inputs
# --------------------------------------------------------------------------------------------
def load(name: str, device: torch.device) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
    """(model, preprocess, preprocess→model, Grad-CAM layer) on ``device``, eval mode."""
    if name == "resnet50":
        import torchvision

        from attrwidgets.demo import imagenet_preprocess

        torch.manual_seed(0)
        model, pre = torchvision.models.resnet50(weights=None).eval(), imagenet_preprocess()
        composed = nn.Sequential(pre, model).eval()
        layer = model.layer4
    else:
        model, pre, composed = bench.load_model(name)
        layer = model._conv_head
    composed.to(device)
    return model, pre, composed, layer


def inputs(batch: int, size: int, device: torch.device) -> torch.Tensor:
    from attrwidgets.demo import photos

    pics = list(photos(size).values())
    return torch.stack([pics[i % len(pics)] for i in range(batch)]).to(device).contiguous()


# --------------------------------------------------------------------------------------------
# floors: plain torch, the same computation as a straight loop of forward+backward batches.
# For one image these are run.py's floor_ig / floor_chunks; for a batch, the same loop over
# every (input, point) pair, chunk points per batch.
# --------------------------------------------------------------------------------------------
def floor_points(composed, x, targets, count, point, chunk):
    """Σ over points p of weight(p) ∇F_target(z_p), per input; ``point(p) -> (z, input index, weight)``."""
    acc = torch.zeros_like(x)
    for s in range(0, count, chunk):
        p = torch.arange(s, min(count, s + chunk), device=x.device)
        z, i, w = point(p)
        z = z.detach().requires_grad_(True)
        out = composed(z)
        (g,) = torch.autograd.grad(out.gather(1, targets[i].view(-1, 1)).sum(), z)
        acc.index_add_(0, i, g * w.view(-1, 1, 1, 1))
    return acc


def floor_ig_batch(composed, x, targets, alphas, weights, chunk):
    """IG from a black baseline: x · Σ_k w_k ∇F(α_k x)."""
    steps = len(alphas)

    def point(p):
        i, k = p // steps, p % steps
        return alphas[k].view(-1, 1, 1, 1) * x[i], i, weights[k]

    return floor_points(composed, x, targets, len(x) * steps, point, chunk) * x


def floor_sg_batch(composed, x, targets, std, samples, chunk):
    """SmoothGrad: the mean gradient at x + std·ε (noise drawn inside, as ours draws it)."""
    one = torch.ones((), device=x.device) / samples

    def point(p):
        i = p % len(x)
        return x[i] + std * torch.randn((len(p), *x.shape[1:]), device=x.device), i, one.expand(len(p))

    return floor_points(composed, x, targets, len(x) * samples, point, chunk)


def floor_grad_cam(composed, layer, x, targets):
    """Grad-CAM by hand: one forward and one backward to the layer, ReLU(Σ_k mean(∂y/∂A^k) A^k), upsampled."""
    held = {}
    handle = layer.register_forward_hook(lambda module, args, out: held.__setitem__("a", out))
    try:
        out = composed(x)
    finally:
        handle.remove()
    a = held["a"]
    (g,) = torch.autograd.grad(out.gather(1, targets.view(-1, 1)).sum(), a)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)).detach()
    return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def values_of(result) -> torch.Tensor:
    return (result if isinstance(result, torch.Tensor) else result.values).detach()


def first_call(fn, device: torch.device) -> tuple[torch.Tensor | None, int | None, float, str | None]:
    """One call (the memory measurement; also what the agreement check compares): values, peak, s, error."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    t0 = time.perf_counter()
    try:
        out = values_of(fn())
        sync(device)
    except (RuntimeError, MemoryError) as error:
        if not bench_oom(error):
            raise
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return None, None, 0.0, f"out of memory: {str(error).splitlines()[0][:120]}"
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) - base if device.type == "cuda" else None
    return out, peak, seconds, None


def bench_oom(error: BaseException) -> bool:
    from attrwidgets.methods._engine import _is_oom

    return _is_oom(error)


def agreement(outputs: dict[str, torch.Tensor], ref_prefix: str) -> dict[str, float]:
    """max|candidate − reference| / max|reference|, the reference the first candidate named ref_prefix."""
    ref_name = next((k for k in outputs if k.startswith(ref_prefix)), None)
    if ref_name is None:
        return {}
    ref = outputs[ref_name].double()
    scale = ref.abs().max().item() or 1.0
    return {
        f"{k} vs {ref_name}": (v.double() - ref).abs().max().item() / scale for k, v in outputs.items() if k != ref_name
    }


def measure(title: str, cands: dict, budgets: dict, points: int, device, reps: int, *, inner: int = 1,
            agree_with: str | None = None) -> dict:  # fmt: skip
    """First call of each candidate (peak memory, out-of-memory filter), then run.py's interleaved rounds."""
    entry: dict = {"points": points, "candidates": {}, "dropped": {}}
    outputs = {}
    for name, fn in list(cands.items()):
        out, peak, seconds, error = first_call(fn, device)  # then interleaved() warms up once more
        if error:
            entry["dropped"][name] = error
            del cands[name]
            print(f"  {title} {name}: {error}", flush=True)
            continue
        budget = budgets.get(name)
        entry["candidates"][name] = {"peak_bytes": peak, "budget": budget, "first_call_s": seconds}
        if agree_with is not None:
            outputs[name] = out
        del out

    def synced(fn):
        def call():
            fn()
            sync(device)

        return call

    times = bench.interleaved({k: synced(v) for k, v in cands.items()}, reps, inner=inner, log=title)
    for name, t in times.items():
        entry["candidates"][name] |= {"times": t, "median": bench.med(t), "points_per_s": points / bench.med(t)}
    if agree_with is not None:
        entry["agreement"] = agreement(outputs, agree_with)
    return entry


# --------------------------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------------------------
def case_ig(plan, model, pre, composed, x, targets, device):
    from captum.attr import IntegratedGradients

    from attrwidgets import config, integrated_gradients
    from attrwidgets.methods.quadrature import rule_points

    alphas, weights = rule_points("gausslegendre", plan.steps)
    a_t = torch.as_tensor(alphas, dtype=x.dtype, device=device)
    w_t = torch.as_tensor(weights, dtype=x.dtype, device=device)
    total = len(x) * plan.steps
    tl = targets.tolist()
    captum = IntegratedGradients(composed)
    zeros = torch.zeros_like(x)

    def ours(memory=None):
        return integrated_gradients(
            model, x, tl, baseline="black", steps=plan.steps, rule="gausslegendre", preprocess=pre, memory=memory
        )

    cands = {"ours": ours, f"ours memory={BIG}": lambda: ours(BIG)}
    budgets = {"ours": config.memory, f"ours memory={BIG}": bench_parse(BIG)}
    sizes = {max(1, plan.max_points // 16), max(1, plan.max_points // 4), plan.max_points}
    sizes = {b for b in sizes if len(x) <= b < total}  # Captum raises batches smaller than the inputs to N
    for b in sorted(sizes) + ([None] if total <= plan.max_points else []):
        cands[f"captum ibs={b}"] = lambda b=b: captum.attribute(
            x, baselines=zeros, target=tl, n_steps=plan.steps, method="gausslegendre", internal_batch_size=b
        )
    for c in sorted({min(c, total) for c in plan.chunks}):
        if len(x) == 1:
            cands[f"floor chunk={c}"] = lambda c=c: bench.floor_ig(composed, x, tl[0], a_t, w_t, c)
        else:
            cands[f"floor chunk={c}"] = lambda c=c: floor_ig_batch(composed, x, targets, a_t, w_t, c)
    return measure("[gpu ig]", cands, budgets, total, device, plan.reps, agree_with="captum")


def case_sg(plan, model, pre, composed, x, targets, device):
    from captum.attr import NoiseTunnel, Saliency

    from attrwidgets import config, smoothgrad

    sigma = 0.15
    std = sigma * float(x.max() - x.min())
    total = len(x) * plan.samples
    tl = targets.tolist()
    nt = NoiseTunnel(Saliency(composed))

    def ours(memory=None):
        return smoothgrad(model, x, tl, sigma=sigma, samples=plan.samples, preprocess=pre, memory=memory)

    cands = {"ours": ours, f"ours memory={BIG}": lambda: ours(BIG)}
    budgets = {"ours": config.memory, f"ours memory={BIG}": bench_parse(BIG)}
    # NoiseTunnel evaluates nt_samples_batch_size × N points per batch (None: all samples at once)
    sizes = {max(1, plan.samples // 5), max(1, plan.samples // 2)}
    for b in sorted(b for b in sizes if b * len(x) <= plan.max_points) + ([None] if total <= plan.max_points else []):
        cands[f"captum NoiseTunnel nt_samples_batch_size={b}"] = lambda b=b: nt.attribute(
            x, nt_type="smoothgrad", nt_samples=plan.samples, stdevs=std, nt_samples_batch_size=b, target=tl, abs=False
        )
    for c in sorted({min(c, total) for c in plan.chunks}):
        if len(x) == 1:
            shape = (plan.samples, *x.shape[1:])
            cands[f"floor chunk={c}"] = lambda c=c, shape=shape: bench.floor_chunks(
                composed, x, tl[0], x + std * torch.randn(shape, device=device), c
            )
        else:
            cands[f"floor chunk={c}"] = lambda c=c: floor_sg_batch(composed, x, targets, std, plan.samples, c)
    return measure("[gpu smoothgrad]", cands, budgets, total, device, plan.reps)


def case_cam(plan, model, pre, composed, layer, x, targets, device):
    from captum.attr import LayerAttribution, LayerGradCam

    from attrwidgets import config, grad_cam

    tl = targets.tolist()
    lgc = LayerGradCam(composed, layer)
    cands = {
        "ours": lambda: grad_cam(model, x, tl, layer=layer, preprocess=pre),
        "captum LayerGradCam (+bilinear upsample)": lambda: LayerAttribution.interpolate(
            lgc.attribute(x, target=tl, relu_attributions=True), tuple(x.shape[2:]), "bilinear"
        ),
        "floor": lambda: floor_grad_cam(composed, layer, x, targets),
    }
    budgets = {"ours": config.memory}
    return measure("[gpu grad_cam]", cands, budgets, len(x), device, plan.reps, inner=3, agree_with="floor")


def bench_parse(memory: str) -> int:
    from attrwidgets.config import parse_memory

    return parse_memory(memory)


def benchmarks(plan: Plan, device: torch.device, budget_s: float) -> dict:
    import attrwidgets  # noqa: F401 - an error in the package itself stops the run here, not as a skipped model

    t_start = time.perf_counter()
    out: dict = {"plan": vars(plan), "cases": [], "skipped": []}
    for model_name in ("resnet50", "efficientnet_lite0"):
        try:
            model, pre, composed, layer = load(model_name, device)
        except Exception as error:  # EfficientNet-Lite0 that cannot load is skipped, with why
            if model_name == "resnet50":
                raise
            reason = f"{model_name} not loaded: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            print(f"[gpu] skip {reason}", flush=True)
            out["skipped"].append(reason)
            continue
        for batch in plan.batches:
            x = inputs(batch, plan.size, device)
            with torch.no_grad():
                targets = composed(x).argmax(dim=1)
            for method in ("integrated_gradients", "smoothgrad", "grad_cam"):
                elapsed = time.perf_counter() - t_start
                label = f"{model_name} batch={batch} {method}"
                if elapsed > budget_s:
                    out["skipped"].append(f"{label}: time budget ({budget_s:.0f} s) spent")
                    print(f"[gpu] skip {label}: {elapsed:.0f} s > --budget-s {budget_s:.0f}", flush=True)
                    continue
                print(f"[gpu] {label}", flush=True)
                t0 = time.perf_counter()
                if method == "integrated_gradients":
                    entry = case_ig(plan, model, pre, composed, x, targets, device)
                elif method == "smoothgrad":
                    entry = case_sg(plan, model, pre, composed, x, targets, device)
                else:
                    entry = case_cam(plan, model, pre, composed, layer, x, targets, device)
                entry |= {"model": model_name, "batch": batch, "method": method, "seconds": time.perf_counter() - t0}
                summarise(entry)
                out["cases"].append(entry)
        del model, pre, composed, layer
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out["seconds"] = time.perf_counter() - t_start
    return out


def summarise(entry: dict) -> None:
    """Throughput ratios of every candidate: vs the best floor and the best Captum candidate."""
    cands = entry["candidates"]
    timed = {k: v["median"] for k, v in cands.items() if "median" in v}
    floor = {k: t for k, t in timed.items() if k.startswith("floor")}
    captum = {k: t for k, t in timed.items() if k.startswith("captum")}
    entry["floor_best"] = min(floor, key=floor.get) if floor else None
    entry["captum_best"] = min(captum, key=captum.get) if captum else None
    for name, t in timed.items():
        c = cands[name]
        c["throughput_vs_floor_best"] = floor[entry["floor_best"]] / t if floor else None
        c["throughput_vs_captum_best"] = captum[entry["captum_best"]] / t if captum else None
        if c.get("budget") is not None and c.get("peak_bytes") is not None:
            c["under_budget"] = c["peak_bytes"] <= c["budget"]


def mib(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:.0f} MiB"


def ratio(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def table(result: dict) -> str:
    lines = [
        "| model | batch | method | candidate | median | points/s | thrpt ÷ floor best | thrpt ÷ Captum best "
        "| peak GPU memory | budget | under |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in result["cases"]:
        rows = sorted(((k, v) for k, v in e["candidates"].items() if "median" in v), key=lambda kv: kv[1]["median"])
        for k, v in rows:
            under = {True: "yes", False: "**no**"}.get(v.get("under_budget"), "")
            lines.append(
                f"| {e['model']} | {e['batch']} | {e['method']} | {k} | {bench.fmt_s(v['median'])} "
                f"| {v['points_per_s']:.0f} | {ratio(v['throughput_vs_floor_best'])} "
                f"| {ratio(v['throughput_vs_captum_best'])} | {mib(v['peak_bytes'])} "
                f"| {mib(v.get('budget'))} | {under} |"
            )
        for k, why in e["dropped"].items():
            lines.append(f"| {e['model']} | {e['batch']} | {e['method']} | {k} | {why} | | | | | | |")
    notes = [f"- skipped: {s}" for s in result["skipped"]]
    for e in result["cases"]:
        for k, v in e.get("agreement", {}).items():
            notes.append(f"- agreement {e['model']} batch={e['batch']} {e['method']}: {k}: {v:.1e}")
    return "\n".join([*lines, "", *notes])


# --------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="run the benchmark code paths tiny on the CPU")
    parser.add_argument("--no-tests", action="store_true", help="skip pytest tests/test_devices.py")
    parser.add_argument("--no-bench", action="store_true", help="only the device tests")
    parser.add_argument("--reps", type=int, help="interleaved rounds after the warm-up (default 3; smoke 1)")
    parser.add_argument("--budget-s", type=float, default=270.0, help="start no case after this many seconds")
    parser.add_argument(
        "--out", type=Path, help="JSON output (default benchmarks/results/gpu.json; smoke: a temp file)"
    )
    args = parser.parse_args()

    has_cuda, what = device_status()
    print(f"CUDA device: {what}" if has_cuda else f"no CUDA device: {what}", flush=True)
    status = 0
    if not args.no_tests and not args.cpu_smoke:
        status = device_tests(["cpu", "cuda"] if has_cuda else ["cpu"])
        print(f"device tests: {'passed' if status == 0 else f'FAILED (exit {status})'}", flush=True)
    if args.no_bench or (not has_cuda and not args.cpu_smoke):
        if not has_cuda and not args.no_bench:
            print("no CUDA device: nothing timed (benchmarks/gpu.py --cpu-smoke runs the timing code tiny on the CPU)")
        return status

    plan = Plan(smoke=args.cpu_smoke)
    if args.reps:
        plan.reps = args.reps
    if args.cpu_smoke:
        device = torch.device("cpu")
        torch.set_num_threads(1)  # tiny batches: one thread is fastest on a shared CPU (10x under load)
        out_path = args.out or Path(tempfile.gettempdir()) / "attrwidgets-gpu-cpu-smoke.json"
    else:
        device = torch.device("cuda")
        out_path = args.out or bench.RESULTS / "gpu.json"
    info = bench.meta(args.cpu_smoke)
    info |= {
        "device": what if device.type == "cuda" else "cpu (--cpu-smoke)",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "tf32_conv": torch.backends.cudnn.allow_tf32,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "device_tests_exit": None if args.no_tests or args.cpu_smoke else status,
    }
    result = benchmarks(plan, device, args.budget_s)
    info["seconds"] = result["seconds"]
    result["meta"] = info
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, default=str))
    print()
    print(f"{info['device']}, torch {info['torch']}, captum {info['captum']}; {plan.reps} rounds after a warm-up")
    print(table(result))
    print(f"\nwrote {out_path} ({result['seconds']:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
