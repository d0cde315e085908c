"""Sentences → token ids, per-token tensors and the tokens shown, for the token explorer.

Three kinds of tokenizer are accepted, told apart by what they offer (nothing is imported):

- **Hugging Face-like**: callable as ``tokenizer(text, return_tensors="pt")`` returning a mapping
  with ``input_ids`` (and ``attention_mask``, ``token_type_ids``, …), and with
  ``convert_ids_to_tokens``; ``pad_token_id`` pads (0 without one).
- **An encoder** with ``encode(texts) -> (ids, mask, tokens)``, such as the demo's
  :class:`~attrwidgets.demo.text.Vocabulary`.
- **A callable** ``tokenizer(text)`` returning ids (a list or a 1-D tensor), or ``(ids, tokens)``;
  without tokens the ids are shown.

Subword pieces are grouped into words (``groups``: one word index per token) by their markers:
WordPiece's ``##`` continues a word, SentencePiece's ``▁`` and byte-level BPE's ``Ġ`` start one;
special tokens (``[CLS]``, ``<s>``, …) stand alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Encoded", "encode_texts", "group_words", "texts_of"]

_STARTS = ("▁", "Ġ")
_SPECIAL = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>", "<mask>", "<|endoftext|>")


@dataclass
class Encoded:
    """Padded ids (N, T) long, the per-token tensors (N, T) by name (``attention_mask`` always),
    and per sentence its tokens, their word groups and the words."""

    ids: torch.Tensor
    extra: dict[str, torch.Tensor]
    tokens: list[list[str]]
    groups: list[list[int]] = field(default_factory=list)
    words: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def mask(self) -> torch.Tensor:
        return self.extra["attention_mask"]


def texts_of(value: object, name: str = "text") -> list[str]:
    """One sentence or a list of them as a list of non-empty strings, or a clear error."""
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        texts = list(value)
        if not texts:
            msg = f"{name} is an empty list: give a sentence, or a list of sentences"
            raise ValueError(msg)
    else:
        msg = f"{name} must be a sentence (str) or a list of sentences, not {type(value).__name__}"
        raise TypeError(msg)
    for i, text in enumerate(texts):
        where = f"{name}[{i}]" if len(texts) > 1 or not isinstance(value, str) else name
        if not isinstance(text, str):
            msg = f"{where} must be a str, not {type(text).__name__}"
            raise TypeError(msg)
        if not text.strip():
            msg = f"{where} is empty: give a sentence with at least one word"
            raise ValueError(msg)
    return texts


def _one_hf(tokenizer: Any, text: str) -> tuple[list[int], list[str], dict[str, list[int]]]:
    enc = tokenizer(text, return_tensors="pt")
    if not isinstance(enc, Mapping) and not hasattr(enc, "keys"):
        msg = f"tokenizer(text, return_tensors='pt') returned {type(enc).__name__}, not a mapping with input_ids"
        raise TypeError(msg)
    if "input_ids" not in enc:
        msg = f"tokenizer(text, return_tensors='pt') returned no input_ids (keys: {sorted(enc.keys())})"
        raise ValueError(msg)
    ids = torch.as_tensor(enc["input_ids"]).reshape(-1).tolist()
    extra = {k: torch.as_tensor(v).reshape(-1).tolist() for k, v in enc.items() if k != "input_ids"}
    tokens = [str(t) for t in tokenizer.convert_ids_to_tokens(ids)]
    return ids, tokens, extra


def _one_callable(tokenizer: Callable[[str], Any], text: str) -> tuple[list[int], list[str] | None]:
    out = tokenizer(text)
    tokens = None
    if isinstance(out, tuple) and len(out) == 2:
        out, tokens = out
    if isinstance(out, Mapping) and "input_ids" in out:
        out = out["input_ids"]
    if isinstance(out, torch.Tensor):
        out = out.reshape(-1).tolist()
    if not isinstance(out, Sequence) or isinstance(out, str):
        msg = (
            f"tokenizer(text) returned {type(out).__name__}; it must return token ids (a list of int or a 1-D "
            "tensor), or (ids, tokens)"
        )
        raise TypeError(msg)
    ids = list(out)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        msg = "tokenizer(text) must return integer token ids"
        raise TypeError(msg)
    if tokens is not None:
        tokens = [str(t) for t in tokens]
        if len(tokens) != len(ids):
            msg = f"tokenizer(text) returned {len(ids)} ids but {len(tokens)} tokens; give one token per id"
            raise ValueError(msg)
    return ids, tokens


def _nothing(text: str) -> ValueError:
    return ValueError(
        f"the tokenizer returned no tokens for {text[:60]!r}: check tokenizer= (it must return one id per token "
        "of a non-empty sentence)"
    )


def encode_texts(tokenizer: Any, texts: list[str]) -> Encoded:
    """Tokenize every sentence and pad them to one length; see the module docstring."""
    if tokenizer is None:
        msg = (
            "explore_text needs tokenizer=: a Hugging Face tokenizer, an object with encode(texts) -> (ids, mask, "
            "tokens) (the demo's Vocabulary), or a callable text -> ids (or (ids, tokens))"
        )
        raise TypeError(msg)
    notes: list[str] = []
    if callable(tokenizer) and hasattr(tokenizer, "convert_ids_to_tokens"):
        rows = [_one_hf(tokenizer, text) for text in texts]
        for (ids, _, _), text in zip(rows, texts, strict=True):
            if not ids:
                raise _nothing(text)
        pad = getattr(tokenizer, "pad_token_id", None)
        pad = 0 if pad is None else int(pad)
        special = set(getattr(tokenizer, "all_special_tokens", None) or _SPECIAL)
        width = max(len(r[0]) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        names = sorted({k for r in rows for k in r[2]} | {"attention_mask"})
        extra = {k: torch.zeros(len(rows), width, dtype=torch.long) for k in names}
        for i, (row_ids, _, row_extra) in enumerate(rows):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            extra["attention_mask"][i, : len(row_ids)] = 1
            for k, v in row_extra.items():
                if len(v) == len(row_ids):
                    extra[k][i, : len(v)] = torch.tensor(v, dtype=torch.long)
        tokens = [r[1] for r in rows]
    elif hasattr(tokenizer, "encode") and not callable(tokenizer):
        out = tokenizer.encode(texts)
        if not (isinstance(out, tuple) and len(out) == 3):
            msg = "tokenizer.encode(texts) must return (ids (N, T), attention mask (N, T), tokens per text)"
            raise TypeError(msg)
        ids, mask, tokens = out
        ids, mask = torch.as_tensor(ids).long(), torch.as_tensor(mask).long()
        tokens = [[str(t) for t in row] for row in tokens]
        for row, text in zip(tokens, texts, strict=True):
            if not row:
                raise _nothing(text)
        extra = {"attention_mask": mask}
        special = set(_SPECIAL)
    elif callable(tokenizer):
        rows = [_one_callable(tokenizer, text) for text in texts]
        for (row_ids, _), text in zip(rows, texts, strict=True):
            if not row_ids:
                raise _nothing(text)
        width = max(len(r[0]) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        tokens = []
        for i, (row_ids, row_tokens) in enumerate(rows):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            mask[i, : len(row_ids)] = 1
            if row_tokens is None:
                row_tokens = [str(t) for t in row_ids]
                if not notes:
                    notes.append("the tokenizer gave ids only: the chips show them (return (ids, tokens) for words)")
            tokens.append(row_tokens)
        extra = {"attention_mask": mask}
        special = set(_SPECIAL)
    else:
        msg = (
            f"tokenizer={type(tokenizer).__name__} is not usable: give a Hugging Face tokenizer, an object with "
            "encode(texts) -> (ids, mask, tokens), or a callable text -> ids (or (ids, tokens))"
        )
        raise TypeError(msg)
    encoded = Encoded(ids, extra, tokens, notes=notes)
    for row in tokens:
        groups, words = group_words(row, special)
        encoded.groups.append(groups)
        encoded.words.append(words)
    return encoded


def group_words(
    tokens: Sequence[str], special: set[str] | frozenset[str] = frozenset(_SPECIAL)
) -> tuple[list[int], list[str]]:
    """Each token's word index and the words (pieces joined, markers removed); see the module docstring."""
    wordpiece = any(t.startswith("##") for t in tokens)
    marked = not wordpiece and any(t.startswith(_STARTS) for t in tokens)
    groups: list[int] = []
    words: list[str] = []
    previous_special = True
    for token in tokens:
        is_special = token in special
        if is_special:
            starts, piece = True, token
        elif wordpiece and token.startswith("##") and not previous_special:
            starts, piece = False, token[2:]
        elif marked:
            starts = token.startswith(_STARTS) or previous_special
            piece = token[1:] if token.startswith(_STARTS) else token
        else:
            starts, piece = True, token
        if starts or not words:
            words.append(piece)
        else:
            words[-1] += piece
        groups.append(len(words) - 1)
        previous_special = is_special
    return groups, words
