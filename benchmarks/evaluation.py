"""Evaluation benchmarks and results (issue 13): perturbation tests on photos, ROAR on digits, and timings.

Usage::

    .venv/bin/python benchmarks/evaluation.py                    # every section
    .venv/bin/python benchmarks/evaluation.py --only roar        # one: deletion_speed, throughput, ray,
                                                                 #      perturbation, roar
    .venv/bin/python benchmarks/evaluation.py --threads 1        # torch threads (default: see below)

Each section writes ``benchmarks/results/evaluation_<section>.json``; the tables of
``benchmarks/RESULTS-evaluation.md`` are printed from them with ``--report``.

Threads: ROAR (the retraining: convolutions' arithmetic) uses every core by default, as torch
does: on the quiet 2-core machine 190–203 s with two threads against 327 s with one. The timing
sections default to one thread: on that machine, shared, small models ran many times faster with
one torch thread than with two while other processes were busy (a DigitsCNN epoch: 0.2 s with
one thread, up to 5 s with two). ``--threads N`` sets it for every section; every JSON records
it and the load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))

import attrwidgets as aw  # noqa: E402
from attrwidgets import evaluate as ev  # noqa: E402

#: The methods item 4 of issue 13 compares, with the options used for each.
PHOTO_METHODS = {
    "gradient": ("gradient", {}),
    "integrated_gradients": ("integrated_gradients", {"steps": 32}),
    "smoothgrad": ("smoothgrad", {"samples": 25, "sigma": 0.15, "seed": 0}),
    "smoothgrad_sq": ("smoothgrad", {"samples": 25, "sigma": 0.15, "seed": 0, "variant": "smoothgrad_sq"}),
    "vargrad": ("smoothgrad", {"samples": 25, "sigma": 0.15, "seed": 0, "variant": "vargrad"}),
    "grad_cam": ("grad_cam", {}),
    "deeplift": ("deeplift", {}),
    "fullgrad": ("fullgrad", {}),
}
DIGIT_METHODS = {
    **PHOTO_METHODS,
    "smoothgrad": ("smoothgrad", {"samples": 20, "sigma": 0.15, "seed": 0}),
    "smoothgrad_sq": ("smoothgrad", {"samples": 20, "sigma": 0.15, "seed": 0, "variant": "smoothgrad_sq"}),
    "vargrad": ("smoothgrad", {"samples": 20, "sigma": 0.15, "seed": 0, "variant": "vargrad"}),
}


def machine() -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load": [round(v, 2) for v in os.getloadavg()],
    }


def save(section: str, data: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    data = {"machine": machine(), **data}
    (RESULTS / f"evaluation_{section}.json").write_text(json.dumps(data, indent=1))
    print(f"wrote results/evaluation_{section}.json")


def photo_model():
    from attrwidgets.demo import imagenet_preprocess, load_efficientnet_lite0, photos

    return load_efficientnet_lite0().eval(), imagenet_preprocess(), photos()


# -- timings ----------------------------------------------------------------------------------------
def deletion_speed(repeats: int = 5) -> None:
    """One 224² photo, EfficientNet-Lite0, deletion with 21 fractions (20 steps): forward-only, batched."""
    model, pre, pics = photo_model()
    x = pics["chelsea"].unsqueeze(0)
    attr = aw.gradient(model, x, preprocess=pre)
    ev.deletion(model, x, attr, preprocess=pre, progress=False)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ev.deletion(model, x, attr, preprocess=pre, progress=False)
        times.append(time.perf_counter() - start)
    with torch.no_grad():  # the floor: the 22 forwards as two plain batches
        batch = x.expand(22, -1, -1, -1).contiguous()
        model(pre(batch[:11]))
        start = time.perf_counter()
        for _ in range(repeats):
            for part in batch.split(11):
                model(pre(part))
        floor = (time.perf_counter() - start) / repeats
    save("deletion_speed", {"seconds": times, "median": statistics.median(times), "floor_22_forwards": floor})


def throughput(repeats: dict[str, int] | None = None) -> None:
    """attribute_dataset vs a plain loop calling the method per batch (digits CNN, batch 128).

    The digits (all 1797 images, 15 batches) with the gradient and IG, and the gradient over the
    digits eight times (14376 images, 113 batches), where the store's fixed cost (making the
    group and its six arrays, ~25 ms) is spread over more batches. Rounds interleave the two (in
    alternating order, so that a change of the machine's load hits both alike); the first round
    warms up. The ratio is loop / store of the medians: ≥ 1 when the store is as fast as the loop
    that writes nothing.
    """
    from attrwidgets.demo import digits_data, load_digits_cnn

    model = load_digits_cnn()
    x1, y1 = digits_data("all")
    cases = {  # name: method, options, copies of the digits, rounds
        "gradient": ("gradient", {}, 1, 15),
        "integrated_gradients": ("integrated_gradients", {"steps": 16}, 1, 5),
        "gradient_digits_x8": ("gradient", {}, 8, 5),
    }
    out = {}
    for case, (method, options, copies, rounds) in cases.items():
        rounds = (repeats or {}).get(case, rounds)
        fn = aw.REGISTRY[method].fn
        x, y = x1.repeat(copies, 1, 1, 1), y1.repeat(copies)
        data = torch.utils.data.TensorDataset(x, y)

        def loop(tmp: str, fn=fn, options=options, x=x, y=y) -> None:
            for i in range(0, len(x), 128):
                fn(model, x[i : i + 128], y[i : i + 128], **options)

        def store(tmp: str, method=method, options=options, data=data) -> None:
            aw.attribute_dataset(method, model, data, f"{tmp}/s.zarr", target="label", options=options,
                                 batch_size=128, progress=False)  # fmt: skip

        times: dict[str, list[float]] = {"loop": [], "store": []}
        loads = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for r in range(rounds + 1):
                for name, run in (("loop", loop), ("store", store))[:: 1 if r % 2 else -1]:
                    with tempfile.TemporaryDirectory() as tmp:  # its removal is not timed
                        start = time.perf_counter()
                        run(tmp)
                        seconds = time.perf_counter() - start
                    if r:  # the first round warms up
                        times[name].append(seconds)
                loads.append(round(os.getloadavg()[0], 2))
        out[case] = {"images": len(x), **times, "load_1min": loads,
                     "ratio": statistics.median(times["loop"]) / statistics.median(times["store"])}  # fmt: skip
        print(case, f"ratio {out[case]['ratio']:.3f}", "loop", statistics.median(times["loop"]),
              "store", statistics.median(times["store"]), "load", loads)  # fmt: skip
    save("throughput", out)


def ray_overhead() -> None:
    """engine="ray" vs "local" on a local cluster (4 logical CPUs, 2 actors of 1 CPU): seconds per batch."""
    import ray

    from attrwidgets.datasets import ray_actors
    from attrwidgets.demo import digits_data, load_digits_cnn

    model = load_digits_cnn()
    x, y = digits_data("all")
    data = torch.utils.data.TensorDataset(x, y)
    start = time.perf_counter()
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    init = time.perf_counter() - start
    resources = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
    plan = ray_actors(resources, 8, actors=2, actor_options={"num_cpus": 1})
    out = {"init": init, "resources": resources, "actors": plan[0], "actor_options": plan[1]}
    try:
        for batch in (64, 256):
            batches = -(-len(x) // batch)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                aw.attribute_dataset("gradient", model, data, f"{tmp}/l.zarr", batch_size=batch, progress=False)
                local = time.perf_counter() - start
                start = time.perf_counter()
                aw.attribute_dataset("gradient", model, data, f"{tmp}/r.zarr", batch_size=batch, engine="ray",
                                     actors=2, actor_options={"num_cpus": 1}, progress=False)  # fmt: skip
                remote = time.perf_counter() - start
            out[str(batch)] = {"batches": batches, "local": local, "ray": remote,
                               "overhead_per_batch": (remote - local) / batches}  # fmt: skip
            print(batch, out[str(batch)])
    finally:
        ray.shutdown()
    small, large = out["64"], out["256"]  # Ray's seconds = fixed + per batch · batches, from the two runs
    per_batch = (small["ray"] - large["ray"]) / (small["batches"] - large["batches"])
    out["fit"] = {"per_batch": per_batch, "fixed": large["ray"] - per_batch * large["batches"]}
    print("fit", out["fit"])
    save("ray", out)


# -- results ----------------------------------------------------------------------------------------
def perturbation() -> None:
    """Pixel perturbation (FullGrad protocol), deletion and insertion on the six demo photos, per method."""
    model, pre, pics = photo_model()
    x = torch.stack(list(pics.values()))
    out = {"photos": list(pics), "methods": {}}
    with torch.no_grad():
        out["predicted"] = model(pre(x)).argmax(1).tolist()
    for label, (method, options) in {**PHOTO_METHODS, "random": ("random", {})}.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IG's completeness notes; recorded below as delta
            attr = x if method == "random" else aw.REGISTRY[method].fn(model, x, preprocess=pre, **options)
        t_attr = time.perf_counter() - start
        m = "random" if method == "random" else attr
        pp = ev.pixel_perturbation(model, x, m, preprocess=pre, progress=False)
        pp_most = ev.pixel_perturbation(model, x, m, order="most", preprocess=pre, progress=False)
        de = ev.deletion(model, x, m, preprocess=pre, progress=False)
        de_blur = ev.deletion(model, x, m, replace="blur", preprocess=pre, progress=False)
        ins = ev.insertion(model, x, m, preprocess=pre, progress=False)
        out["methods"][label] = {
            "attribution_seconds": t_attr,
            "pixel_perturbation_change": pp.change.mean(0).tolist(),
            "pixel_perturbation_auc": pp.auc.tolist(),
            "most_first_change": pp_most.change.mean(0).tolist(),
            "deletion_auc": de.auc.tolist(),
            "deletion_logit_auc": de.area("scores").tolist(),
            "deletion_blur_auc": de_blur.auc.tolist(),
            "insertion_auc": ins.auc.tolist(),
        }
        print(label, f"{t_attr:.1f}s", "pp", round(pp.mean_auc, 5), "del", round(de.mean_auc, 4),
              "ins", round(ins.mean_auc, 4))  # fmt: skip
    out["fractions"] = list(ev.FULLGRAD_FRACTIONS)
    save("perturbation", out)


def roar_digits(seeds: tuple[int, ...] = (0, 1, 2), epochs: int = 8) -> None:
    """ROAR on the scikit-learn digits (28², 1347 train / 450 test), DigitsCNN retrained per fraction and seed.

    The retrained models go through roar's default trainer (stacks of models trained at once);
    then the same four models (seeds 0–3, intact training set) are trained one by one and as one
    stack, in turn, twice, for the ratio of the two in one run on this shared machine.
    """
    from attrwidgets._ensemble import fit_stacked
    from attrwidgets.demo import DigitsCNN, digits_data

    options = {"epochs": epochs, "batch_size": 32}
    load_before = [round(v, 2) for v in os.getloadavg()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ev.roar(DigitsCNN, digits_data("train"), digits_data("test"), DIGIT_METHODS, seeds=seeds,
                         fit_options=options, progress=False)  # fmt: skip
    load_after = [round(v, 2) for v in os.getloadavg()]
    print(result.table())
    print(f"{result.seconds:.0f} s, base accuracy {result.base_accuracy:.3f}, load {load_before} → {load_after}")

    x, y = digits_data("train")
    xt, yt = digits_data("test")
    four = (0, 1, 2, 3)

    def fresh(seed):
        torch.manual_seed(seed)
        return DigitsCNN()

    timing = {"one_by_one": [], "stacked": []}
    for _ in range(2):
        start = time.perf_counter()
        alone = [ev.fit_classifier(fresh(s), x, y, seed=s, **options) for s in four]
        timing["one_by_one"].append(time.perf_counter() - start)
        start = time.perf_counter()
        stacked = fit_stacked([fresh(s) for s in four], [x] * 4, y, four, lr=3e-3, **options)
        timing["stacked"].append(time.perf_counter() - start)
    same = [(ev._accuracy(a, xt, yt), ev._accuracy(b, xt, yt)) for a, b in zip(alone, stacked, strict=True)]
    ratio = sum(timing["one_by_one"]) / sum(timing["stacked"])
    print(f"4 models × {epochs} epochs: one by one {timing['one_by_one']}, stacked {timing['stacked']}, "
          f"ratio {ratio:.2f}; test accuracies (one by one, stacked) {same}")  # fmt: skip
    accuracy = {k: v.tolist() for k, v in result.accuracy.items()}
    save("roar", {"fractions": result.fractions, "seeds": list(seeds), "epochs": epochs, "table": result.table(),
                  "base_accuracy": result.base_accuracy, "seconds": result.seconds, "accuracy": accuracy,
                  "load_before": load_before, "load_after": load_after,
                  "trainer": {"models": len(four), "seconds": timing, "ratio": ratio,
                              "accuracies": same}})  # fmt: skip


def report() -> str:
    """Markdown tables from the JSON files present (the prose of RESULTS-evaluation.md is written by hand)."""
    lines: list[str] = []

    def load(section: str) -> dict | None:
        path = RESULTS / f"evaluation_{section}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    if (d := load("perturbation")) is not None:
        lines += [f"Perturbation ({d['machine']['date']}, photos: {', '.join(d['photos'])}); mean over photos.", "",
                  "| method | pixel perturbation AUC (least first, ↓) | change at 10 % | deletion AUC, black (↓) | "
                  "deletion AUC, blur (↓) | insertion AUC (↑) | 10 % most first (↑) | attribution (s) |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for name, m in sorted(d["methods"].items(), key=lambda kv: mean(kv[1]["pixel_perturbation_auc"])):
            lines.append(
                f"| {name} | {mean(m['pixel_perturbation_auc']):.5f} | {m['pixel_perturbation_change'][-1]:.3f} | "
                f"{mean(m['deletion_auc']):.4f} | "
                + (f"{mean(m['deletion_blur_auc']):.4f} | " if "deletion_blur_auc" in m else "– | ")
                + f"{mean(m['insertion_auc']):.4f} | {m['most_first_change'][-1]:.3f} | "
                f"{m['attribution_seconds']:.1f} |"
            )
        lines.append("")
    if (d := load("roar")) is not None:
        loads = f"{d['load_before']} → {d['load_after']}" if "load_before" in d else d["machine"]["load"]
        lines += [f"ROAR ({d['machine']['date']}, seeds {d['seeds']}, {d['epochs']} epochs, base accuracy "
                  f"{d['base_accuracy']:.3f}, {d['seconds']:.0f} s end to end, load {loads})", "",
                  d["table"], ""]  # fmt: skip
        if "trainer" in d:
            t = d["trainer"]
            one, stacked = ([round(v, 1) for v in t["seconds"][k]] for k in ("one_by_one", "stacked"))
            lines += [f"Trainer, {t['models']} models: one by one {one} s, stacked {stacked} s, "
                      f"ratio {t['ratio']:.2f}", ""]  # fmt: skip
    for section in ("deletion_speed", "throughput", "ray"):
        if (d := load(section)) is not None:
            lines += [f"{section}: " + json.dumps({k: v for k, v in d.items() if k != "machine"}), ""]
    return "\n".join(lines)


SECTIONS = {
    "deletion_speed": deletion_speed,
    "throughput": throughput,
    "ray": ray_overhead,
    "perturbation": perturbation,
    "roar": roar_digits,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores for roar, else 1)")
    parser.add_argument("--report", action="store_true", help="print the tables from the JSON files and stop")
    args = parser.parse_args()
    if args.report:
        print(report())
        return
    for name in args.only or SECTIONS:
        print(f"== {name}")
        torch.set_num_threads(args.threads or (os.cpu_count() or 1 if name == "roar" else 1))
        SECTIONS[name]()


if __name__ == "__main__":
    main()
