"""Layer IG on the pretrained encoder against Captum and a plain-torch floor (run by hand).

    .venv/bin/python benchmarks/text_encoder_bench.py [--rounds 5] [--long] [--write benchmarks/RESULTS-text.md]

Issue 12's goal: IG with 50 steps on one sentence of about 20 tokens with the pretrained encoder
(all-MiniLM-L6-v2 with the head trained in the repo, ``attrwidgets.demo.text_encoder``) takes at
most 1.0× the time of Captum's ``LayerIntegratedGradients`` at its best ``internal_batch_size``,
measured in the same run.

Every candidate computes the same thing: IG at the output of the word embeddings, baseline the
``[PAD]`` token embedded (Captum maps its ``baselines`` ids through the layer; ours takes the
token id), ``attention_mask`` as a forward argument, 50 Gauss-Legendre points, target 1:

* ``ours``: ``aw.integrated_gradients`` as a user calls it (the trace kept), with the default
  configuration and with ``config.cpu_chunk`` points per chunk (``cpu_chunk_bytes=0``: how CPU
  chunks were sized before ``cpu_chunk_bytes``; ``cpu_chunk=10`` is the former default), and
  without the trace;
* ``captum ibs=B``: ``LayerIntegratedGradients.attribute(..., internal_batch_size=B)``;
* ``captum+delta ibs=B``: the same with ``return_convergence_delta=True``, the call that gives
  what ours always gives (the attributions and the completeness gap, for which F(x′) is needed);
* ``floor chunk=C``: plain torch, what the engine does with nothing around it: the layer's
  output at the input and at the baseline, then chunks of C path points, each one forward with a
  forward hook putting the points in place of the layer's output and one backward to them, and
  the weighted sum of the gradients.

Agreement of ours with Captum and with the floor (largest absolute difference over the largest
attribution) is checked before anything is timed. Protocol: ``torch.set_num_threads(2)``, one
warm-up run of every candidate, then ``--rounds`` rounds, each running every candidate once in
an order rotated between rounds; the median wall time per candidate (and the fastest and slowest
run). The load average is recorded at the start
and at the end: the machine is shared, so numbers from one run are compared with each other only.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import attrwidgets as aw  # noqa: E402
from attrwidgets.methods.quadrature import rule_points  # noqa: E402

SENTENCE = "a moving, beautifully acted film that never loses its way, even when the story drifts."
#: the --long case: the sentence six times, 116 tokens (about 19 MiB a point against 3.5 MiB)
LONG = " ".join([SENTENCE] * 6)
LONG_TOKENS = 116
STEPS = 50
TARGET = 1
CPU_CHUNKS = (10, 25, 50)
CAPTUM_BATCHES = (None, 10, 25, 50)
CAPTUM_DELTA_BATCHES = (None, 25, 50)
FLOOR_CHUNKS = (10, 25, 50)
HEADING = "## Pretrained encoder (all-MiniLM-L6-v2): layer IG vs Captum"

warnings.filterwarnings("ignore", message=".*completeness gap.*")


class Batches:
    """Records the batch size of every forward of the model (a pre-hook; for the chunk column)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.sizes: list[int] = []
        self.handle = model.register_forward_pre_hook(self.pre, with_kwargs=True)

    def pre(self, module, args, kwargs):
        ids = args[0] if args else kwargs["input_ids"]
        self.sizes.append(len(ids))

    def remove(self) -> None:
        self.handle.remove()


def setup(model, tokenizer, sentence: str, cpu_chunks=CPU_CHUNKS, captum_batches=CAPTUM_BATCHES,
          floor_chunks=FLOOR_CHUNKS, delta_batches=CAPTUM_DELTA_BATCHES):  # fmt: skip
    """(ids, candidates) for IG on ``sentence``; the model and tokenizer of ``encoder_classifier()``."""
    from captum.attr import LayerIntegratedGradients

    enc = tokenizer([sentence], return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    pad = tokenizer.pad_token_id
    layer = model.word_embeddings
    alphas, weights = rule_points("gausslegendre", STEPS)
    lig = LayerIntegratedGradients(model, layer)

    def ours(chunk: int | None = None, *, trace: bool = True) -> torch.Tensor:
        """``chunk``: ``config.cpu_chunk`` points per chunk whatever a point's size (``cpu_chunk_bytes=0``)."""
        old = vars(aw.config).copy()
        if chunk is not None:
            aw.config.cpu_chunk = chunk
            aw.config.cpu_chunk_bytes = 0  # before this setting existed, cpu_chunk alone sized CPU chunks
        try:
            return aw.integrated_gradients(model, ids, target=TARGET, layer=layer, baseline=pad, steps=STEPS,
                                           rule="gausslegendre", forward_kwargs={"attention_mask": mask},
                                           trace=trace).values
        finally:
            for key, value in old.items():
                setattr(aw.config, key, value)

    def captum(batch: int | None, *, delta: bool = False) -> torch.Tensor:
        out = lig.attribute(ids, baselines=torch.full_like(ids, pad), target=TARGET, additional_forward_args=(mask,),
                            n_steps=STEPS, method="gausslegendre", internal_batch_size=batch,
                            return_convergence_delta=delta)  # fmt: skip
        return out[0] if delta else out

    a = torch.as_tensor(alphas, dtype=torch.float32).view(-1, 1, 1)
    w = torch.as_tensor(weights, dtype=torch.float32).view(-1, 1, 1)

    def floor(chunk: int) -> torch.Tensor:
        with torch.no_grad():
            x, base = layer(ids), layer(torch.full_like(ids, pad))
        diff = x - base
        acc = torch.zeros_like(x)
        for s in range(0, STEPS, chunk):
            z = (base + a[s : s + chunk] * diff).requires_grad_(True)
            handle = layer.register_forward_hook(lambda module, args, out, z=z: z.clone())
            try:
                out = model(ids.expand(len(z), -1), mask.expand(len(z), -1))
            finally:
                handle.remove()
            (g,) = torch.autograd.grad(out[:, TARGET].sum(), z)
            acc += (g * w[s : s + chunk]).sum(0, keepdim=True)
        return acc * diff

    candidates = {"ours (default)": ours, "ours trace=False": lambda: ours(trace=False)}
    for c in cpu_chunks:
        candidates[f"ours cpu_chunk={c}, cpu_chunk_bytes=0"] = lambda c=c: ours(c)
    for b in captum_batches:
        candidates[f"captum ibs={b}"] = lambda b=b: captum(b)
    for b in delta_batches:
        candidates[f"captum+delta ibs={b}"] = lambda b=b: captum(b, delta=True)
    for c in floor_chunks:
        candidates[f"floor chunk={c}"] = lambda c=c: floor(c)
    return ids, candidates


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def chunks_of(model: torch.nn.Module, fn) -> str:
    """The batch sizes of the model's forwards in one call of ``fn``, e.g. ``1+10×5+1``."""
    rec = Batches(model)
    try:
        fn()
    finally:
        rec.remove()
    parts: list[str] = []
    for size in rec.sizes:  # run-length: 10, 10, 10 → 10×3
        if parts and re.fullmatch(rf"{size}(×\d+)?", parts[-1]):
            count = int(parts[-1].split("×")[1]) if "×" in parts[-1] else 1
            parts[-1] = f"{size}×{count + 1}"
        else:
            parts.append(str(size))
    return "+".join(parts)


def breakdown(ours, rounds: int) -> list[str]:
    """Where one call of ours spends its time: each pass through the engine (median over ``rounds`` calls).

    Every model evaluation goes through ``evaluate``; it is wrapped where the methods call it.
    """
    import attrwidgets.methods._engine as engine
    import attrwidgets.methods.layer as layer_module
    import attrwidgets.methods.path_state as path_module

    original = engine.evaluate
    calls: list[tuple[str, float]] = []

    def timed(explained, count, build, consume, **kw):
        t0 = time.perf_counter()
        result = original(explained, count, build, consume, **kw)
        grad = "forward + backward" if kw.get("grad", True) is not False else "forward"
        measured = ", the first point measured" if kw.get("per_point") is None else ""
        calls.append((f"{count} point{'s' * (count != 1)}, {grad}{measured}", time.perf_counter() - t0))
        return result

    modules = (engine, layer_module, path_module)
    for module in modules:
        module.evaluate = timed
    totals, runs = [], []
    try:
        for _ in range(rounds):
            calls.clear()
            t0 = time.perf_counter()
            ours()
            totals.append(time.perf_counter() - t0)
            runs.append(list(calls))
    finally:
        for module in modules:
            module.evaluate = original
    rows = ["| pass through the engine | ms (median) |", "|---|---|"]
    for k, (label, _) in enumerate(runs[0]):
        rows.append(f"| {label} | {1000 * statistics.median(run[k][1] for run in runs):.1f} |")
    rest = statistics.median(total - sum(t for _, t in run) for total, run in zip(totals, runs, strict=True))
    rows.append(f"| the rest (checks, baseline, trace, result) | {1000 * rest:.1f} |")
    rows.append(f"| whole call | {1000 * statistics.median(totals):.1f} |")
    return rows


def run_case(model, ids, candidates: dict, rounds: int) -> tuple[list[str], dict, str]:
    """(table rows, agreement, summary line) of one sentence: agreement first, then the timed rounds."""
    ours = candidates["ours (default)"]()
    theirs = candidates["captum ibs=None"]()
    floor = candidates[next(n for n in candidates if n.startswith("floor"))]()
    agreement = {"ours vs captum": relative(ours, theirs), "ours vs floor": relative(ours, floor),
                 "floor vs captum": relative(floor, theirs)}  # fmt: skip
    print(f"{ids.shape[1]} tokens, agreement (max |a − b| / max |b|):",
          {k: f"{v:.1e}" for k, v in agreement.items()}, flush=True)  # fmt: skip
    if max(agreement.values()) > 1e-3:
        msg = f"the candidates disagree: {agreement}"
        raise SystemExit(msg)
    names = list(candidates)
    chunks = {name: chunks_of(model, candidates[name]) for name in names if not name.startswith("floor")}
    for name in names:
        if name.startswith("floor"):
            c = int(name.split("=")[1])
            chunks[name] = "+".join([str(c)] * (STEPS // c) + ([str(STEPS % c)] if STEPS % c else []))
    wall: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up
        candidates[name]()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            candidates[name]()
            wall[name].append(time.perf_counter() - t0)
        print(f"round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
    med = {n: statistics.median(v) for n, v in wall.items()}
    cap_best = min((n for n in names if n.startswith("captum ")), key=med.__getitem__)
    delta_best = min((n for n in names if n.startswith("captum+delta")), key=med.__getitem__)
    floor_best = min((n for n in names if n.startswith("floor")), key=med.__getitem__)
    rows = [
        "| candidate | forwards (batch sizes) | wall s (median) | min–max | ÷ Captum best | ÷ floor best |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        rows.append(
            f"| {n} | {chunks[n]} | {med[n]:.2f} | {min(wall[n]):.2f}–{max(wall[n]):.2f} | "
            f"{med[n] / med[cap_best]:.2f} | {med[n] / med[floor_best]:.2f} |"
        )
    summary = (
        f"**ours (default) ÷ Captum best ({cap_best}) = {med['ours (default)'] / med[cap_best]:.2f}**; "
        f"**like for like, ÷ Captum's best call that also returns the completeness gap ({delta_best}) = "
        f"{med['ours (default)'] / med[delta_best]:.2f}**; "
        f"÷ floor best ({floor_best}) = {med['ours (default)'] / med[floor_best]:.2f}; before `cpu_chunk_bytes` "
        f"(ours cpu_chunk=10, cpu_chunk_bytes=0) ÷ Captum best = "
        f"{med['ours cpu_chunk=10, cpu_chunk_bytes=0'] / med[cap_best]:.2f}."
    )
    return rows, agreement, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--long", action="store_true", help=f"also a {LONG_TOKENS}-token sentence (chunk bytes)")
    parser.add_argument("--write", type=Path, default=None, help="append (or replace) the section in this file")
    args = parser.parse_args(argv)
    from attrwidgets.demo.text_encoder import encoder_classifier

    torch.set_num_threads(2)
    load_start = os.getloadavg()
    model, tokenizer = encoder_classifier()
    ids, candidates = setup(model, tokenizer, SENTENCE)
    rows, agreement, summary = run_case(model, ids, candidates, args.rounds)
    pieces = breakdown(candidates["ours (default)"], args.rounds)
    long_lines: list[str] = []
    if args.long:
        long_ids, long_candidates = setup(model, tokenizer, LONG, cpu_chunks=(10,), captum_batches=(None, 10, 25),
                                          floor_chunks=(5, 10, 25, 50))  # fmt: skip
        long_rows, long_agreement, long_summary = run_case(model, long_ids, long_candidates, args.rounds)
        long_lines = [
            f"The same on a {long_ids.shape[1]}-token sentence (the review sentence repeated), where a point "
            "costs about six times as much: `cpu_chunk_bytes` (256 MiB) gives it smaller chunks than the short "
            f"sentence's (agreement: ours vs Captum {long_agreement['ours vs captum']:.1e}):",
            "",
            *long_rows,
            "",
            long_summary,
            "",
        ]
    load_end = os.getloadavg()
    lines = [
        HEADING,
        "",
        f"Goal (issue 12): IG with {STEPS} steps on one sentence of ~20 tokens with the pretrained encoder, "
        "≤ 1.0× Captum's LayerIntegratedGradients at its best internal batch size, same run "
        "(`benchmarks/text_encoder_bench.py`).",
        "",
        *rows,
        "",
        summary,
        "",
        "Where ours (default) spends its time, the same run (each pass through the engine, in call order: the "
        "layer's output at the input, by a forward that stops at the layer (the first call of a kind makes a "
        "whole forward there instead, which measures a point's cost); the [PAD] ids mapped to the layer, the "
        "same way; the path, whose chunk also holds α = 1, i.e. F(x) and the trace's end, and α = 0, i.e. "
        "F(x′)):",
        "",
        *pieces,
        "",
        *long_lines,
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"torch.get_num_threads() = {torch.get_num_threads()}; load average at start "
        f"{' / '.join(f'{v:.2f}' for v in load_start)}, at end {' / '.join(f'{v:.2f}' for v in load_end)} "
        "(a shared machine: compare the rows of one table, not runs); "
        f"{args.rounds} interleaved rounds after one warm-up; the sentence has {ids.shape[1]} tokens "
        f"(\"{SENTENCE}\"); baseline the [PAD] embedding, attention_mask as a forward argument, "
        f"Gauss-Legendre, target {TARGET}, our trace kept unless said. Agreement before timing "
        f"(max |a − b| / max |b|): ours vs Captum {agreement['ours vs captum']:.1e}, ours vs floor "
        f"{agreement['ours vs floor']:.1e}. \"forwards\": the batch of every forward of the model in one "
        "call (ours: the input and the baseline mapped to the layer, two forwards that stop there, then the "
        "path's chunks: the 50 nodes with α = 1 (F(x)) and α = 0 (F(x′)), neither a Gauss-Legendre node; "
        "Captum: the layer's output at the input and at the baseline, then its chunks, and "
        "with the convergence delta F at the baseline and at the input).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        old = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
        if HEADING in old:  # a re-run replaces this section only
            before, _, rest = old.partition(HEADING)
            following = rest.find("\n## ")
            after = rest[following + 1 :] if following >= 0 else ""
            new = before + text + ("\n" + after if after else "")
        else:
            new = old.rstrip("\n") + "\n\n" + text
        args.write.write_text(new, encoding="utf-8")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
