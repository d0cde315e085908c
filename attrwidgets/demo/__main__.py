"""The demo: Integrated Gradients on a real pretrained ImageNet classifier and real photos.

Run ``python -m attrwidgets.demo [--out DIR] [--photo NAME]``. It writes PNG figures a reader of
the IG paper will recognise (gradient vs IG, the saturation curve, the completeness view, the
six-baseline grid), prints their paths and the completeness gap, and, when the explorer widget is
installed, a self-contained HTML page with the α scrubber.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

import attrwidgets as aw
from attrwidgets import baselines
from attrwidgets.demo import figures, imagenet_labels, imagenet_preprocess, load_efficientnet_lite0, photos

BASELINES = {
    "black": baselines.black(),
    "white": baselines.white(),
    "uniform": baselines.uniform(seed=0),
    "gaussian σ=0.3": baselines.gaussian(sigma=0.3, seed=0),
    "blurred σ=10px": baselines.blur(sigma=10),
    "max distance": baselines.max_distance(),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="folder for the figures (default: demo-output)")
    parser.add_argument("--photo", default="chelsea", help="one of the bundled photos (default: chelsea)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model, preprocess, labels = load_efficientnet_lite0(), imagenet_preprocess(), imagenet_labels()
    pictures = photos()
    if args.photo not in pictures:
        parser.error(f"--photo must be one of {sorted(pictures)}")
    image = pictures[args.photo][None]
    with torch.no_grad():
        probs = model(preprocess(image)).softmax(1)[0]
    top = probs.topk(3)
    print(f"EfficientNet-Lite0 on {args.photo!r}:")
    for p, c in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        print(f"  {labels[c]:<24} {p:.2f}")

    start = time.perf_counter()
    ig = aw.integrated_gradients(model, image, preprocess=preprocess, baseline="black", steps="auto")
    seconds = time.perf_counter() - start
    label = labels[int(ig.target)]
    span = float(ig.score - ig.baseline_score)
    print(
        f"\nIntegrated Gradients, black baseline, steps='auto' ({ig.trace.evaluations} model evaluations, "
        f"{seconds:.1f} s):\n  Σ attributions = {float(ig.values.sum()):.4f}   F(x) − F(x′) = {span:.4f}   "
        f"completeness gap = {float(ig.delta):+.4f} ({float(ig.relative_delta):.2%})"
    )
    grad = aw.gradient(model, image, target=ig.target, preprocess=preprocess)
    paths = [
        figures.figure_gradient_vs_ig(image, grad, ig, out / "gradient_vs_ig.png", label=label),
        figures.figure_saturation(ig.trace, out / "saturation.png", label=label),
        figures.figure_completeness(ig.trace, ig.score, ig.baseline_score, out / "completeness.png"),
    ]

    results = {}
    print("\nThe baseline changes the answer (same image, same class, IG with steps='auto'):")
    for name, spec in BASELINES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the gap is printed below instead
            attr = aw.integrated_gradients(
                model, image, ig.target, preprocess=preprocess, baseline=spec, steps="auto", trace=False
            )
        results[name] = (spec(image), attr)
        print(
            f"  {name:<16} F(x′) = {float(attr.baseline_score):7.3f}   gap {float(attr.relative_delta):6.2%}"
            f"   ({attr.trace.evaluations} evaluations)"
        )
    paths.append(figures.figure_baseline_grid(image, results, out / "baselines.png", label=label))

    try:
        from attrwidgets import explore
    except ImportError:
        explore = None
    if explore is not None:
        widget = explore(model, image, preprocess=preprocess, labels=labels, sync=True)
        paths.append(Path(widget.save_html(out / "explorer.html")))

    print("\nWrote:")
    for path in paths:
        print(f"  {Path(path).resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
