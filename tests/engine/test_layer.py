"""layer=: attribution at a module's output, against Captum's layer methods, with completeness there."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attrwidgets as aw
from tests.probes import assert_clean, make_cnn, model_state

captum_attr = pytest.importorskip("captum.attr")


class TinyText(nn.Module):
    """Embedding (row 0 is zero) → tanh(linear) per token → masked mean → linear, in float64."""

    def __init__(self, vocab: int = 30, dim: int = 6, classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.token = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, classes)
        self.double()

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = (ids != 0) if attention_mask is None else attention_mask
        mask = mask.to(torch.float64).unsqueeze(-1)
        hidden = torch.tanh(self.token(self.embedding(ids)))
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0))


def text_batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, 30, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    return ids, mask


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_middle"])
def test_layer_ig_equals_captum_layer_integrated_gradients(rule: str) -> None:
    model = TinyText()
    ids, mask = text_batch()
    n = 24
    lig = captum_attr.LayerIntegratedGradients(model, model.embedding)
    theirs = lig.attribute(ids, baselines=torch.full_like(ids, 3), target=1, additional_forward_args=(mask,),
                           n_steps=n, method=rule)  # fmt: skip
    ours = aw.integrated_gradients(model, ids, target=1, layer=model.embedding, baseline=3,
                                   forward_kwargs={"attention_mask": mask}, steps=n, rule=rule)  # fmt: skip
    assert ours.values.shape == (3, 7, 6)
    # Conventions: the same α points and rules; only Captum's riemann_trapezoid weights differ,
    # 1/n with halved ends (they sum to 1 - 1/n), where ours are 1/(n-1) with halved ends (sum 1).
    scale = n / (n - 1) if rule == "riemann_trapezoid" else 1.0
    torch.testing.assert_close(ours.values, theirs * scale, rtol=1e-7, atol=1e-9)


def test_layer_ig_zero_embedding_baseline_is_captum_with_the_pad_token() -> None:
    model = TinyText()  # row 0 of the embedding is zero: the [PAD] token embeds to the zero vector
    ids, mask = text_batch()
    lig = captum_attr.LayerIntegratedGradients(model, model.embedding)
    theirs = lig.attribute(ids, baselines=torch.zeros_like(ids), target=2, additional_forward_args=(mask,),
                           n_steps=32, method="gausslegendre")  # fmt: skip
    ours = aw.integrated_gradients(model, ids, target=2, layer=model.embedding, baseline="zero",
                                   forward_kwargs={"attention_mask": mask}, steps=32)  # fmt: skip
    torch.testing.assert_close(ours.values, theirs, rtol=1e-7, atol=1e-9)
    assert ours.params["baseline"] == "zero" and ours.params["layer"] == "embedding"


def test_completeness_at_the_layer() -> None:
    model = TinyText()
    ids, mask = text_batch()
    attr = aw.integrated_gradients(model, ids, target=0, layer=model.embedding, baseline="zero",
                                   forward_kwargs={"attention_mask": mask}, steps=64)  # fmt: skip
    with torch.no_grad():
        f_x = model(ids, mask)[:, 0]
        f_base = model.head(torch.tanh(model.token.bias)).expand(3, -1)[:, 0]  # every token embeds to 0
    torch.testing.assert_close(attr.score, f_x)
    torch.testing.assert_close(attr.baseline_score, f_base)
    torch.testing.assert_close(attr.token_scores.sum(1), f_x - f_base, rtol=1e-10, atol=1e-10)
    assert float(attr.delta.abs().max()) < 1e-10
    # the adaptive default reaches its tolerance at the layer too
    auto = aw.integrated_gradients(model, ids, target=0, layer=model.embedding, baseline="zero",
                                   forward_kwargs={"attention_mask": mask})  # fmt: skip
    assert float(auto.relative_delta.max()) < 0.01


def test_baselines_at_a_layer() -> None:
    model = TinyText()
    ids, mask = text_batch()
    kw = {"layer": model.embedding, "forward_kwargs": {"attention_mask": mask}, "steps": 8}
    zero = aw.integrated_gradients(model, ids, baseline="zero", **kw)
    black = aw.integrated_gradients(model, ids, **kw)  # the default "black" is the zero embedding for ids
    pad = aw.integrated_gradients(model, ids, baseline=0, **kw)  # token 0 embeds to zero
    tensor = aw.integrated_gradients(model, ids, baseline=torch.zeros(7, 6, dtype=torch.float64), **kw)
    id_tensor = aw.integrated_gradients(model, ids, baseline=torch.zeros(7, dtype=torch.long), **kw)
    for other in (black, pad, tensor, id_tensor):
        torch.testing.assert_close(other.values, zero.values)
    # a token id: the path starts at that token's embedding, at every position
    # (with the input's own mask), so F(x') is the model at all-5 ids
    five = aw.integrated_gradients(model, ids, target=0, baseline=5, **kw)
    with torch.no_grad():
        torch.testing.assert_close(five.baseline_score, model(torch.full_like(ids, 5), mask)[:, 0])
    assert five.params["baseline"] == "token 5"
    with pytest.raises(ValueError, match="image baseline"):
        aw.integrated_gradients(model, ids, baseline="blur", **kw)
    with pytest.raises(ValueError, match="broadcasts neither"):
        aw.integrated_gradients(model, ids, baseline=torch.zeros(4, 5, dtype=torch.float64), **kw)


def test_token_ids_need_a_layer() -> None:
    model = TinyText()
    ids, _ = text_batch()
    with pytest.raises(TypeError, match="layer="):
        aw.integrated_gradients(model, ids)
    with pytest.raises(ValueError, match="not a submodule"):
        aw.gradient(model, ids, layer=nn.Embedding(3, 3))
    with pytest.raises(TypeError, match="layer must be a submodule"):
        aw.gradient(model, ids, layer="embedding")


def test_layer_errors_are_clear() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4).double()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(self.lin(x))

    model = Twice()
    x = torch.rand(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="ran more than once"):
        aw.gradient(model, x, layer=model.lin)
    lstm = nn.Sequential(nn.LSTM(4, 3, batch_first=True)).double()
    with pytest.raises(TypeError, match="returned a tuple"):
        aw.gradient(lambda x: lstm(x)[0][:, -1], torch.rand(2, 5, 4, dtype=torch.float64), layer=lstm[0])

    class Spare(Twice):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Linear(4, 4).double()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x)

    spare = Spare()
    with pytest.raises(ValueError, match="did not run"):
        aw.gradient(spare, x, layer=spare.unused)


def test_gradient_and_input_x_gradient_at_a_layer_equal_captum() -> None:
    model = TinyText()
    ids, mask = text_batch()
    ours = aw.input_x_gradient(model, ids, target=1, layer=model.embedding, forward_kwargs={"attention_mask": mask})
    theirs = captum_attr.LayerGradientXActivation(model, model.embedding).attribute(
        ids, target=1, additional_forward_args=(mask,)
    )
    torch.testing.assert_close(ours.values, theirs)
    grad = aw.gradient(model, ids, target=1, layer=model.embedding, forward_kwargs={"attention_mask": mask})
    torch.testing.assert_close(grad.values * model.embedding(ids).detach(), ours.values)


@pytest.mark.filterwarnings("ignore:.*relative completeness gap")  # few steps at the inputs: not the point
def test_conv_layer_on_images_equals_captum() -> None:
    model = make_cnn()
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    layer = model.features[4]  # the second convolution
    theirs = captum_attr.LayerIntegratedGradients(model, layer).attribute(
        x, baselines=torch.zeros_like(x), target=2, n_steps=16, method="gausslegendre"
    )
    ours = aw.integrated_gradients(model, x, target=2, layer=layer, baseline="black", steps=16)
    assert ours.values.shape == (2, 8, 6, 6)
    torch.testing.assert_close(ours.values, theirs, rtol=1e-7, atol=1e-10)
    # at the inputs it is the usual IG (nothing changed for images without layer=)
    plain = aw.integrated_gradients(model, x, target=2, baseline="black", steps=16)
    assert plain.values.shape == x.shape


def test_expected_gradients_and_smoothgrad_at_a_layer() -> None:
    model = TinyText()
    ids, mask = text_batch()
    kw = {"layer": model.embedding, "forward_kwargs": {"attention_mask": mask}, "target": 1}
    refs = torch.randint(1, 30, (5, 7), generator=torch.Generator().manual_seed(4))
    eg = aw.expected_gradients(model, ids, references=refs, samples=200, **kw)
    assert eg.values.shape == (3, 7, 6)
    # layer-space references give the same answer as the ids they embed
    eg2 = aw.expected_gradients(model, ids, references=model.embedding(refs).detach(), samples=200, **kw)
    torch.testing.assert_close(eg.values, eg2.values)
    assert float(eg.delta.abs().max()) < 0.1 * float((eg.score - eg.baseline_score).abs().max()) + 1e-3
    grad = aw.gradient(model, ids, **kw)
    sg0 = aw.smoothgrad(model, ids, sigma=0.0, **kw)
    torch.testing.assert_close(sg0.values, grad.values)
    sg = aw.smoothgrad(model, ids, sigma=0.1, samples=8, **kw)
    assert sg.values.shape == (3, 7, 6) and sg.params["layer"] == "embedding"
    with pytest.raises(ValueError, match="layer="):
        aw.smoothgrad(model, ids, base="integrated_gradients", **kw)


@pytest.mark.parametrize("name", ["gradient", "input_x_gradient", "integrated_gradients", "smoothgrad"])
def test_layer_hooks_come_off(name: str) -> None:
    model = TinyText()
    ids, mask = text_batch()
    before = model_state(model)
    getattr(aw, name)(model, ids, layer=model.embedding, forward_kwargs={"attention_mask": mask},
                      **({"steps": 4} if name == "integrated_gradients" else {}))  # fmt: skip
    assert_clean(model, before)
    with pytest.raises(ValueError, match="out of range"):
        getattr(aw, name)(model, ids, target=9, layer=model.embedding)
    assert_clean(model, before)


def test_a_baseline_or_reference_mapped_to_the_layer_runs_the_model_only_up_to_it() -> None:
    """Token-id baselines and Expected Gradients' references need only the layer's output: nothing above it runs."""
    model = TinyText()
    ids, mask = text_batch()
    above: list[int] = []
    handle = model.token.register_forward_pre_hook(lambda module, args: above.append(len(args[0])))
    try:
        ours = aw.integrated_gradients(model, ids, target=1, layer=model.embedding, baseline=3,
                                       forward_kwargs={"attention_mask": mask}, steps=8)  # fmt: skip
        ig_rows = sum(above)
        assert ig_rows == 3 + 3 * (8 + 2), "the pass at the input and the path (with its two ends), no baseline pass"
        above.clear()
        aw.expected_gradients(model, ids, target=1, layer=model.embedding, references=ids[:2], samples=4,
                              forward_kwargs={"attention_mask": mask})  # fmt: skip
        # the inputs, F at each reference with each input's mask (3 × 2), the draws (3 × 4): no mapping pass
        assert sum(above) == 3 + 3 * 2 + 3 * 4, above
    finally:
        handle.remove()
    lig = captum_attr.LayerIntegratedGradients(model, model.embedding)
    theirs = lig.attribute(ids, baselines=torch.full_like(ids, 3), target=1, additional_forward_args=(mask,),
                           n_steps=8)  # fmt: skip
    torch.testing.assert_close(ours.values, theirs, rtol=1e-7, atol=1e-9)


def test_a_model_that_swallows_every_exception_still_maps_its_baseline() -> None:
    class Swallowing(TinyText):
        def forward(self, ids, attention_mask=None):
            try:
                return super().forward(ids, attention_mask)
            except BaseException:  # the hostile case: the early stop taken for an error
                return torch.zeros(len(ids), 3, dtype=torch.float64)

    model = Swallowing()
    ids, mask = text_batch()
    ours = aw.integrated_gradients(model, ids, target=1, layer=model.embedding, baseline=3,
                                   forward_kwargs={"attention_mask": mask}, steps=8)  # fmt: skip
    plain = TinyText()
    expected = aw.integrated_gradients(plain, ids, target=1, layer=plain.embedding, baseline=3,
                                       forward_kwargs={"attention_mask": mask}, steps=8)  # fmt: skip
    torch.testing.assert_close(ours.values, expected.values)


class HeadBatches:
    """The batch sizes the model's head sees: forwards that run the whole model, not only up to the layer."""

    def __init__(self, model: TinyText) -> None:
        self.sizes: list[int] = []
        self.handle = model.head.register_forward_pre_hook(lambda module, args: self.sizes.append(len(args[0])))

    def __enter__(self) -> list[int]:
        return self.sizes

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


def test_a_second_call_of_its_kind_skips_the_pass_at_the_inputs() -> None:
    # The pass at the inputs of small inputs is a forward only (F(x), the target, the layer's output).
    # Once a call of the kind measured a point's cost, the next takes F(x) from its path's α = 1
    # point and the layer's output from a forward up to the layer: the same numbers, bit for bit.
    model = TinyText()
    ids, mask = text_batch()
    kw = {"layer": model.embedding, "baseline": 3, "forward_kwargs": {"attention_mask": mask}, "steps": 24}
    with HeadBatches(model) as first_sizes:
        first = aw.integrated_gradients(model, ids, target=1, **kw)
    with HeadBatches(model) as second_sizes:
        second = aw.integrated_gradients(model, ids, target=1, **kw)
    assert first_sizes == [1, 2, 3 * 26]  # the pass at the inputs (the first measured), then the path
    assert second_sizes == [3 * 26]  # the path alone: 24 nodes and α = 0, 1 per input
    for name in ("values", "score", "baseline_score", "delta", "target"):
        assert torch.equal(getattr(first, name), getattr(second, name)), name
    assert torch.equal(first.trace.scores, second.trace.scores)
    with torch.no_grad():
        torch.testing.assert_close(second.score, model(ids, mask)[:, 1], rtol=1e-12, atol=1e-12)
    # per-input targets, and steps="auto" (the adaptive mesh), the same as on a fresh model's first call
    for target, steps in (([0, 2, 1], 24), (2, "auto")):
        fresh = TinyText()
        with HeadBatches(model) as sizes:
            fast = aw.integrated_gradients(model, ids, target=target, **(kw | {"steps": steps}))
        assert sizes and sizes[0] != 1, sizes  # no pass at the inputs
        slow = aw.integrated_gradients(fresh, ids, target=target, **(kw | {"layer": fresh.embedding, "steps": steps}))
        for name in ("values", "score", "baseline_score", "delta", "target"):
            torch.testing.assert_close(getattr(fast, name), getattr(slow, name), rtol=1e-12, atol=1e-12)


def test_the_skipped_pass_still_refuses_a_bad_target_and_remeasures_a_changed_model() -> None:
    model = TinyText()
    ids, mask = text_batch()
    kw = {"layer": model.embedding, "baseline": "zero", "forward_kwargs": {"attention_mask": mask}, "steps": 8}
    aw.integrated_gradients(model, ids, target=0, **kw)
    with pytest.raises(ValueError, match=r"target \[3\] out of range: valid targets are 0..2"):
        aw.integrated_gradients(model, ids, target=3, **kw)
    with pytest.raises(ValueError, match="got 2 targets for 3 inputs"):
        aw.integrated_gradients(model, ids, target=[0, 1], **kw)
    with HeadBatches(model) as sizes:  # target=None: the classes are the inputs' own, so the pass runs
        aw.integrated_gradients(model, ids, target=None, **kw)
    assert sizes[0] == 1
    model.token = nn.Sequential(nn.Linear(6, 24), nn.Tanh(), nn.Linear(24, 6)).double()  # another cost
    with HeadBatches(model) as sizes:
        aw.integrated_gradients(model, ids, target=0, **kw)
    assert sizes[0] == 1
    with HeadBatches(model) as sizes:  # and remembered for the new make-up
        aw.integrated_gradients(model, ids, target=0, **kw)
    assert sizes[0] != 1
    with HeadBatches(model) as sizes:  # a longer sentence: another shape, measured
        aw.integrated_gradients(model, torch.cat([ids, ids], 1), target=0, **(kw | {"forward_kwargs": None}))
    assert sizes[0] == 1


def test_a_remembered_cost_does_not_keep_the_model_alive() -> None:
    import gc
    import weakref

    model = TinyText()
    ids, mask = text_batch()
    aw.integrated_gradients(model, ids, target=0, layer=model.embedding, baseline="zero", steps=4,
                            forward_kwargs={"attention_mask": mask})  # fmt: skip
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
