"""Benchmark of the token explorer (run by hand; writes nothing unless --write is given).

    .venv/bin/python benchmarks/text_bench.py [--repeat 20] [--write benchmarks/RESULTS-text.md]

On the shipped review classifier (attrwidgets/demo/text.py), end to end through
``aw.explore_text`` and its Session on the worker thread (as in a notebook; the callbacks run
where the results arrive), measures the time

(a) from ``explore_text(...)`` (tokenizing, the forward for the target picker, the widget) to the
    first (coarse) and to the full result;
(b) from a new sentence in the text box (``w.texts = [...]``) to the first and the full result;

for one sentence of about 20 tokens and for the nine-sentence list, with steps="auto" (the default)
and steps=50. Goal (issue 12): first result ≤ 300 ms, full ≤ 1 s on a CPU.

(c) in headless Chromium (the browser tests' flags), on the static export of the nine sentences,
    the time of one α step (an ``input`` event on the slider until the chips are redrawn), the
    front end's whole share of scrubbing.

``--encoder`` measures (a) and (b) instead on the pretrained encoder (all-MiniLM-L6-v2 with the
head trained in the repo, ``attrwidgets.demo.text_encoder``; needs the ``text`` extra) with
``layer=model.word_embeddings``. ``--write`` replaces only the section it measures (without
``--encoder`` the file's first one), so the other benchmarks' sections stay.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import torch

import attrwidgets as aw
from attrwidgets.demo.text import LABELS, review_classifier
from attrwidgets.widgets.text_explorer import TextExplorer

SENTENCE = "a moving , beautifully acted film that never loses its way , even when the story drifts into melodrama ."
OTHER = "a dull , lifeless mess that never finds its footing , and the jokes land with a thud ."
NINE = [
    "a moving , beautifully acted film .",
    "a dull , lifeless mess that never finds its footing .",
    "the best movie of the year",
    "boring and predictable",
    "not bad at all",
    "a triumph of style over substance",
    "the plot makes no sense but the actors are charming",
    "i wanted to like it , but it is tedious",
    "funny , warm and wise",
]


class Clock:
    """Records when the first and the final result of each generation arrive (on the worker thread)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.first: float | None = None
        self.full: float | None = None
        self.done = threading.Event()

    def reset(self) -> None:
        self.first = self.full = None
        self.done.clear()
        self.start = time.perf_counter()

    def observe(self, final: bool) -> None:
        now = time.perf_counter() - self.start
        if self.first is None:
            self.first = now
        if final:
            self.full = now
            self.done.set()


CLOCK = Clock()
_on_result = TextExplorer._on_result


def _timed(self, generation: int, stage: str, payload: dict, final: bool) -> None:
    _on_result(self, generation, stage, payload, final)
    CLOCK.observe(final)  # after the trait is set: the answer is where the front end reads it


TextExplorer._on_result = _timed  # a timing probe for this script only


ENCODER_HEADING = "## Token explorer on the pretrained encoder (all-MiniLM-L6-v2)"


def one(texts, options: dict, model, vocab) -> tuple[float, float, float, float]:
    clock = CLOCK
    clock.reset()
    w = aw.explore_text(model, texts, tokenizer=vocab, labels=LABELS, dispatch=lambda cb: cb(), **options)
    if not clock.done.wait(30):
        raise RuntimeError("no full result within 30 s")
    first_open, full_open = clock.first, clock.full
    clock.reset()
    w.texts = [OTHER] if isinstance(texts, str) else [*texts[1:], texts[0]]
    if not clock.done.wait(30):
        raise RuntimeError("no full result within 30 s")
    first_new, full_new = clock.first, clock.full
    w.close()
    return first_open, full_open, first_new, full_new


def scrub_ms(model, vocab, steps: int = 200) -> tuple[float, float]:
    """Median and 95th percentile of one α step's redraw in the static export of NINE, in ms."""
    import sys
    import tempfile

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.ui.chromium_flags import CHROMIUM_ARGS, CHROMIUM_CANDIDATES

    w = aw.explore_text(model, NINE, tokenizer=vocab, labels=LABELS, sync=True)
    with tempfile.TemporaryDirectory() as folder:
        page_path = w.save_html(Path(folder) / "text.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM_CANDIDATES[0], args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(page_path.as_uri())
            page.wait_for_selector(".aw-root[data-drawn]:not([data-drawn='0'])")
            times = page.evaluate(
                """(steps) => {
                    const slider = document.querySelector('input.aw-alpha');
                    const out = [];
                    for (let i = 0; i < steps; i++) {
                        slider.value = String(Math.round(1000 * (i % 100) / 99));
                        const t = performance.now();
                        slider.dispatchEvent(new Event('input'));
                        document.body.getBoundingClientRect();  // layout of the new chips included
                        out.push(performance.now() - t);
                    }
                    return out;
                }""",
                steps,
            )
            browser.close()
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--encoder", action="store_true", help="the pretrained encoder instead (text extra)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.encoder:
        from attrwidgets.demo.text_encoder import encoder_classifier

        model, vocab = encoder_classifier()
        layer = {"layer": model.word_embeddings}
    else:
        model, vocab = review_classifier()
        layer = {}
    load = os.getloadavg()
    lines = []
    for name, texts in (("one sentence (~20 tokens)", SENTENCE), ("nine sentences", NINE)):
        for options in ({} | layer, {"steps": 50} | layer):
            one(texts, options, model, vocab)  # warm-up: first calls, allocator
            runs = [one(texts, options, model, vocab) for _ in range(args.repeat)]
            cols = list(zip(*runs, strict=True))
            med = [1000 * statistics.median(c) for c in cols]
            worst = [1000 * max(c) for c in cols]
            label = f"{name}, steps={options.get('steps', 'auto')}"
            lines.append(
                f"| {label} | {med[0]:.0f} / {worst[0]:.0f} | {med[1]:.0f} / {worst[1]:.0f} "
                f"| {med[2]:.0f} / {worst[2]:.0f} | {med[3]:.0f} / {worst[3]:.0f} |"
            )
            print(lines[-1], flush=True)
    scrub = ""
    if not args.encoder:
        median, p95 = scrub_ms(model, vocab)
        scrub = (
            "One α step in the static export of the nine sentences (Chromium, redraw and layout): "
            f"median {median:.1f} ms, 95th percentile {p95:.1f} ms."
        )
        print(scrub)
    after = os.getloadavg()
    header = [
        "| case | open → first (ms, median / max) | open → full | new sentence → first | new sentence → full |",
        "|---|---|---|---|---|",
    ]
    tokens = len(vocab(SENTENCE)["input_ids"]) if args.encoder else len(vocab.encode(SENTENCE)[2][0])
    env = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average before {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
        f"after {after[0]:.2f} / {after[1]:.2f} / {after[2]:.2f}; {args.repeat} runs per case after one warm-up; "
        f"the one sentence has {tokens} tokens"
    )
    print(env)
    if args.write and args.encoder:
        section = "\n".join([
            ENCODER_HEADING,
            "",
            "Goal (issue 12): first result ≤ 300 ms, full ≤ 1 s on a CPU; `benchmarks/text_bench.py --encoder`: "
            "`aw.explore_text(model, texts, tokenizer=tokenizer, layer=model.word_embeddings)`, the zero "
            "embedding as baseline, the rest as above.",
            "",
            *header,
            *lines,
            "",
            env,
            "",
        ])  # fmt: skip
        old = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
        before, found, rest = old.partition(ENCODER_HEADING)
        following = rest.find("\n## ") if found else -1
        after_text = rest[following + 1 :] if following >= 0 else ""
        body = before.rstrip("\n") + "\n\n" + section + ("\n" + after_text if after_text else "")
        args.write.write_text(body, encoding="utf-8")
    elif args.write:
        text = "\n".join([
            "# Token explorer: time to the first and the full result (benchmarks/text_bench.py)",
            "",
            "Goal (issue 12): first result ≤ 300 ms, full ≤ 1 s on a CPU, on the review classifier.",
            "",
            *header,
            *lines,
            "",
            env,
            "",
            scrub,
            "",
        ])  # fmt: skip
        # the file's first section is this one: replace it, keep the sections after it (the
        # encoder's, text_encoder_bench.py's)
        old = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
        following = old.find("\n## ")
        args.write.write_text(text + ("\n" + old[following + 1 :] if following >= 0 else ""), encoding="utf-8")


if __name__ == "__main__":
    main()
