"""The token explorer (aw.explore_text) on the shipped review classifier: payload, errors, export."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import attrwidgets as aw
from attrwidgets.demo.text import LABELS, review_classifier, tokenize
from attrwidgets.registry import REGISTRY
from attrwidgets.widgets._text_compute import text_methods
from attrwidgets.widgets._text_input import encode_texts, group_words
from attrwidgets.widgets._wire import decode

SENTENCES = ["a moving , beautifully acted film .", "boring and predictable", "the best movie of the year"]
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def classifier():
    return review_classifier()


def _direct(model, vocab, texts, **options):
    ids, mask, _ = vocab.encode(texts)
    with torch.no_grad():
        predicted = model(ids, attention_mask=mask).argmax(1)
    return aw.integrated_gradients(model, ids, target=predicted, layer=model.embedding, baseline="zero",
                                   forward_kwargs={"attention_mask": mask}, **options)  # fmt: skip


def test_payload_equals_the_direct_call(classifier) -> None:
    model, vocab = classifier
    options = {"steps": 16, "rule": "riemann_trapezoid"}
    w = aw.explore_text(model, SENTENCES, tokenizer=vocab, labels=LABELS, sync=True, **options)
    direct = _direct(model, vocab, SENTENCES, **options)
    r = w.result
    assert r["view"] == "path" and r["final"] and r["layer"] == "embedding"
    scores = decode(r["scores"])
    np.testing.assert_allclose(scores, direct.token_scores.numpy(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(w.attribution.values, direct.values)
    trace, path = direct.trace, r["path"]
    np.testing.assert_array_equal(decode(path["alphas"]), trace.alphas.float().numpy())
    frames = decode(path["frames"]).tolist()
    assert frames == list(range(trace.alphas.shape[1])), "17 points: every one is sent"
    cumulative = decode(path["cumulative"])
    np.testing.assert_array_equal(cumulative[:, :-1], trace.cumulative_maps[:, :-1].float().numpy())
    np.testing.assert_array_equal(decode(path["grad"]), trace.grad_maps.float().numpy())
    np.testing.assert_allclose(decode(path["scores"]), trace.scores.numpy(), rtol=1e-6)
    np.testing.assert_allclose(decode(path["cumulative_sum"]), trace.cumulative.numpy(), rtol=1e-5, atol=1e-6)
    for row, tokens, t, d in zip(r["rows"], [tokenize(s) for s in SENTENCES], direct.target, direct.delta, strict=True):
        assert row["tokens"] == tokens
        assert row["target"] == int(t) and row["target_label"] == LABELS[int(t)]
        assert row["delta"] == pytest.approx(float(d), abs=1e-6)
    assert [row["predicted_label"] for row in r["rows"]] == ["fresh", "rotten", "fresh"]


def test_chips_at_alpha_one_are_the_final_scores(classifier) -> None:
    model, vocab = classifier
    w = aw.explore_text(model, SENTENCES, tokenizer=vocab, sync=True)  # steps="auto": rows of different lengths
    r = w.result
    alphas = decode(r["path"]["alphas"])
    assert (alphas[:, -1] == 1).all()
    last = decode(r["path"]["cumulative"])[:, -1]
    np.testing.assert_array_equal(last, decode(r["scores"]))
    np.testing.assert_array_equal(decode(r["scores"]), w.attribution.token_scores.float().numpy())
    # the trace's own float16 maps at α = 1 agree with it to float16 precision (so nothing else changed)
    np.testing.assert_allclose(w.attribution.trace.cumulative_maps[:, -1].float().numpy(), last, rtol=2e-3, atol=2e-4)
    for row in r["rows"]:
        assert row["relative_delta"] < 0.01, "auto refines until the gap is below 1 %"
        assert row["sum"] == pytest.approx(row["score"] - row["baseline_score"], rel=0.01)


def test_a_list_is_one_call_on_one_scale(classifier) -> None:
    model, vocab = classifier
    many = aw.explore_text(model, SENTENCES, tokenizer=vocab, sync=True, steps=8)
    scores = decode(many.result["scores"])
    assert scores.shape == (3, max(len(tokenize(s)) for s in SENTENCES)), "one (N, T) array: one scale"
    assert not any("scale" in row for row in many.result["rows"]), "no per-sentence scale"
    for i, text in enumerate(SENTENCES):  # padding and batching change nothing: the rows compare
        alone = aw.explore_text(model, text, tokenizer=vocab, sync=True, steps=8)
        n = len(tokenize(text))
        np.testing.assert_allclose(scores[i, :n], decode(alone.result["scores"])[0], rtol=1e-5, atol=1e-6)
        assert not scores[i, n:].any(), "padding gets nothing"


def test_a_new_sentence_recomputes_and_bad_ones_are_refused(classifier) -> None:
    model, vocab = classifier
    w = aw.explore_text(model, "boring and predictable", tokenizer=vocab, labels=LABELS, sync=True)
    first = w.result["generation"]
    w.texts = ["a moving film", "a dull mess"]
    assert w.result["generation"] > first
    assert [row["tokens"] for row in w.result["rows"]] == [["a", "moving", "film"], ["a", "dull", "mess"]]
    w.set_state({"texts": ["   "]})  # as the browser would send it
    assert w.texts == ["a moving film", "a dull mess"]
    assert w.status["state"] == "error" and "texts" in w.status["message"] and "empty" in w.status["message"]
    w.set_state({"result": {}})
    assert "only the kernel" in w.status["message"]
    w.set_state({"target": 0})
    assert {row["target"] for row in w.result["rows"]} == {0}


def test_a_token_id_baseline(classifier) -> None:
    model, vocab = classifier
    zero = aw.explore_text(model, "a moving film", tokenizer=vocab, sync=True, steps=8)
    pad = aw.explore_text(model, "a moving film", tokenizer=vocab, sync=True, steps=8, baseline=vocab.pad_id)
    unk = aw.explore_text(model, "a moving film", tokenizer=vocab, sync=True, steps=8, baseline=1)
    # [PAD] embeds to the zero vector: the same path; [UNK] does not
    np.testing.assert_array_equal(decode(pad.result["scores"]), decode(zero.result["scores"]))
    assert not np.allclose(decode(unk.result["scores"]), decode(zero.result["scores"]))
    assert unk.result["rows"][0]["baseline_score"] != zero.result["rows"][0]["baseline_score"]


def test_latest_sentence_wins_on_the_worker(classifier) -> None:
    model, vocab = classifier
    w = aw.explore_text(model, "a moving film", tokenizer=vocab, dispatch=lambda callback: callback())
    for text in ("boring", "a dull mess", "the best movie of the year"):
        w.texts = [text]
    assert w.wait(30)
    assert w.result["final"] and w.result["rows"][0]["tokens"] == tokenize("the best movie of the year")
    assert w.attribution.values.shape[1] == 6 and w.error is None
    w.close()


def test_method_menu_is_the_text_capable_methods(classifier) -> None:
    model, vocab = classifier
    w = aw.explore_text(model, "a moving film", tokenizer=vocab, sync=True)
    names = [m["name"] for m in w.methods]
    assert names == [m.name for m in text_methods()]
    assert {"integrated_gradients", "gradient", "input_x_gradient", "smoothgrad"} <= set(names)
    assert "grad_cam" not in names and "occlusion" not in names
    assert all(any(c.name == "layer" for c in REGISTRY[n].controls) for n in names)
    w.method = "gradient"
    assert w.result["view"] == "map" and "path" not in w.result and w.result["method"] == "gradient"
    w.method = "smoothgrad"
    assert w.result["method"] == "smoothgrad" and w.options["samples"] == 50


def test_errors_name_the_argument_and_what_to_do(classifier) -> None:
    model, vocab = classifier
    with pytest.raises(ValueError, match="text is empty"):
        aw.explore_text(model, "  ", tokenizer=vocab)
    with pytest.raises(ValueError, match="empty list"):
        aw.explore_text(model, [], tokenizer=vocab)
    with pytest.raises(TypeError, match=r"text\[1\] must be a str"):
        aw.explore_text(model, ["fine", 3], tokenizer=vocab)
    with pytest.raises(TypeError, match="needs tokenizer="):
        aw.explore_text(model, "a film")
    with pytest.raises(ValueError, match="tokenizer returned no tokens"):
        aw.explore_text(model, "a film", tokenizer=lambda s: [])
    with pytest.raises(ValueError, match="tokenizer returned no tokens"):
        aw.explore_text(model, "!!! ???", tokenizer=lambda s: vocab.ids(re.findall(r"[a-z]+", s)))
    with pytest.raises(ValueError, match=r"layer='embeding' is not a module of this model.*embedding"):
        aw.explore_text(model, "a film", tokenizer=vocab, layer="embeding")
    with pytest.raises(ValueError, match="not a module of this model"):
        aw.explore_text(model, "a film", tokenizer=vocab, layer=torch.nn.Embedding(3, 2))
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['stpes'\].*steps"):
        aw.explore_text(model, "a film", tokenizer=vocab, stpes=8)
    with pytest.raises(ValueError, match=r"steps=99999 is out of range: give 1\.\.512 or 'auto'"):
        aw.explore_text(model, "a film", tokenizer=vocab, steps=99999)
    with pytest.raises(ValueError, match="rule='simpson' is not one of"):
        aw.explore_text(model, "a film", tokenizer=vocab, rule="simpson")
    with pytest.raises(ValueError, match="not a text-capable method"):
        aw.explore_text(model, "a film", tokenizer=vocab, method="grad_cam")
    with pytest.raises(ValueError, match=r"target=7 is not a class of this model: give 0..1"):
        aw.explore_text(model, "a film", tokenizer=vocab, target=7)
    with pytest.raises(ValueError, match=r"baseline='black' is neither 'zero'.*token id \(0\.\.\d+ for"):
        aw.explore_text(model, "a film", tokenizer=vocab, baseline="black")
    with pytest.raises(ValueError, match="baseline=999999"):
        aw.explore_text(model, "a film", tokenizer=vocab, baseline=999999)
    with pytest.raises(TypeError, match="returned str"):
        aw.explore_text(model, "a film", tokenizer=lambda s: s)


class WordPieceTokenizer:
    """Duck-typed like a Hugging Face tokenizer (no transformers): "unbelievable" → un ##believ ##able."""

    pad_token_id = 0
    all_special_tokens = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")

    def __init__(self, vocab) -> None:
        self.vocab = vocab
        self.pieces = {"unbelievable": ["un", "##believ", "##able"]}

    def _tokens(self, text: str) -> list[str]:
        out = []
        for word in tokenize(text):
            out += self.pieces.get(word, [word])
        return out

    def __call__(self, text: str, return_tensors: str | None = None):
        assert return_tensors == "pt"
        tokens = self._tokens(text)
        ids = [self.vocab.index.get(t, self.vocab.index.get(t.lstrip("#"), 1)) for t in tokens]
        self.last = dict(zip(ids, tokens, strict=True))
        return {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                "token_type_ids": torch.zeros(1, len(ids), dtype=torch.long)}  # fmt: skip

    def convert_ids_to_tokens(self, ids):
        return [self.last[i] for i in ids]


def test_a_hugging_face_like_tokenizer_and_merged_words(classifier) -> None:
    model, vocab = classifier
    tok = WordPieceTokenizer(vocab)
    encoded = encode_texts(tok, ["unbelievable film", "a film"])
    assert set(encoded.extra) == {"attention_mask", "token_type_ids"}
    assert encoded.mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert encoded.groups[0] == [0, 0, 0, 1] and encoded.words[0][1] == "film"
    # the model takes attention_mask but no token_type_ids: only what its forward takes is passed
    w = aw.explore_text(model, ["unbelievable film", "a film"], tokenizer=tok, sync=True, steps=8)
    assert w.result["rows"][0]["groups"] == [0, 0, 0, 1]
    assert group_words(["▁a", "▁mov", "ing", "▁film"]) == ([0, 1, 1, 2], ["a", "moving", "film"])
    assert group_words(["[CLS]", "##x", "Ġno"])[0] == [0, 1, 2], "a piece after a special token starts a word"


def test_a_callable_tokenizer_with_and_without_tokens(classifier) -> None:
    model, vocab = classifier
    w = aw.explore_text(model, "a moving film", tokenizer=lambda s: (vocab.ids(tokenize(s)), tokenize(s)), sync=True)
    assert w.result["rows"][0]["tokens"] == ["a", "moving", "film"]
    ids_only = aw.explore_text(model, "a moving film", tokenizer=lambda s: torch.tensor(vocab.ids(tokenize(s))),
                               sync=True)  # fmt: skip
    assert ids_only.result["rows"][0]["tokens"] == [str(i) for i in vocab.ids(["a", "moving", "film"])]
    assert any("ids only" in n for n in ids_only.result["notes"])
    np.testing.assert_allclose(decode(ids_only.result["scores"]), decode(w.result["scores"]), rtol=1e-6)


def test_static_export_holds_the_page_and_escapes_tokens(classifier, tmp_path) -> None:
    model, vocab = classifier
    tok = lambda s: ([*vocab.ids(tokenize(s)), 1], [*tokenize(s), HOSTILE])  # noqa: E731
    w = aw.explore_text(model, ["a moving film", "boring"], tokenizer=tok, sync=True, steps=8, title="two reviews")
    path = w.save_html(tmp_path / "text.html")
    page = path.read_text(encoding="utf-8")
    assert "js/textwidget.js" in page and "<img" not in page, "the token only inside the escaped JSON"
    block = re.search(r'<script type="application/json" id="aw-state">(.*?)</script>', page, re.S).group(1)
    state = json.loads(block)
    assert state["interactive"] is False and state["title"] == "two reviews"
    assert state["result"]["rows"][0]["tokens"][-1] == HOSTILE
    assert "$b64" in json.dumps(state["result"]["scores"])


def test_a_layer_without_one_row_per_token_and_a_model_output_object(classifier) -> None:
    model, vocab = classifier
    with pytest.raises(ValueError, match=r"layer='head' outputs shape \(1, 2\) for token ids of shape \(1, 3\)"):
        aw.explore_text(model, "a fine film", tokenizer=vocab, layer="head")

    class Output(torch.nn.Module):  # like a Hugging Face model: an output object, not a tensor
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, ids, attention_mask=None):
            return {"logits": self.inner(ids, attention_mask=attention_mask)}

    with pytest.raises(ValueError, match=r"\(N, classes\) scores.*\.logits"):
        aw.explore_text(Output(), "a film", tokenizer=vocab)


def test_long_texts_fit_in_one_update(classifier, monkeypatch) -> None:
    from attrwidgets.widgets import _text_compute
    from attrwidgets.widgets._wire import payload_bytes

    budget = _text_compute._MARGIN + 40_000  # a small update: 70 tokens × 3 sentences × 65 points do not fit
    monkeypatch.setattr(_text_compute, "MAX_UPDATE_BYTES", budget)
    model, vocab = classifier
    long = " ".join(["a moving , beautifully acted film ."] * 10)  # 70 tokens
    w = aw.explore_text(model, [long, long, "boring"], tokenizer=vocab, sync=True, steps=64)
    path = w.result["path"]
    frames = decode(path["frames"]).tolist()
    count = decode(path["alphas"]).shape[1]
    assert 2 <= len(frames) < count and frames[0] == 0 and frames[-1] == count - 1
    assert payload_bytes(path) <= budget - _text_compute._MARGIN + 16 * 3 * count
    assert payload_bytes(w.result) <= budget
    np.testing.assert_array_equal(decode(path["cumulative"])[:, -1], decode(w.result["scores"]))
