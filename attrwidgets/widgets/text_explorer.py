"""The token explorer: :func:`explore_text` shows sentences as token chips shaded by attribution.

:class:`TextExplorer` holds only synced traits and their validation; the computing is done by a
:class:`~attrwidgets.widgets.session.Session` (one worker thread, latest request wins, a coarse
answer first) around a :class:`~attrwidgets.widgets._text_compute.TextExplainer`. The front end
is ``js/textwidget.js``: chips red for positive and blue for negative scores on one diverging
scale (symmetric around zero, its end a percentile of |score|) shared by every sentence shown;
subword pieces merged into words on request; the α scrubber, which shows the attribution
accumulated up to α or the gradient at α from per-α data sent once; the saturation curves; the
completeness readout. Display controls never talk to the kernel and work in the static export.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t
from torch import nn

from attrwidgets.registry import REGISTRY
from attrwidgets.widgets import _methods, export
from attrwidgets.widgets._bundle import bundle
from attrwidgets.widgets._text_compute import TextExplainer, method_menu, text_methods
from attrwidgets.widgets._text_input import texts_of
from attrwidgets.widgets.explorer import (
    Explorer,
    _check_keyword,
    _clamp,
    _FiniteFloat,
    _FiniteInt,
    _show,
    check_keywords,
    colormap_tables,
)
from attrwidgets.widgets.session import Session

__all__ = ["TextExplorer", "explore_text"]

SHOW_MODES = ("attribution", "gradient")
"""What the chips show at α: the attribution accumulated up to α, or the gradient at α."""
_KERNEL_CONTROLS = ("texts", "method", "options", "target", "baseline")
_KERNEL_OWNED = ("result", "status", "targets", "methods", "vocabulary", "interactive")
_DISPLAY = ("alpha", "clip", "merge", "show", "title")


class TextExplorer(anywidget.AnyWidget):
    """The token explorer for one model and one or more sentences; create it with :func:`explore_text`."""

    _esm = bundle("textwidget")

    # -- data the kernel sends ---------------------------------------------------------------------
    result = t.Dict().tag(sync=True)
    """The newest answer (see :mod:`~attrwidgets.widgets._text_compute`), with ``generation`` and ``final``."""
    status = t.Dict({"state": "idle", "message": "", "progress": None, "hint": "", "generation": 0}).tag(sync=True)
    """``state`` ∈ idle / computing / error, ``message``, ``progress``, ``hint``."""
    targets = t.List().tag(sync=True)
    """The target picker: the top classes ``{index, label, prob}`` (mean probability over the sentences)."""
    methods = t.List().tag(sync=True)
    """The method menu: the registry's text-capable methods (``_text_compute.method_menu``)."""
    vocabulary = t.Dict().tag(sync=True)
    """``colormaps`` (matplotlib's tables) and ``steps_choices``."""
    interactive = t.Bool(True).tag(sync=True)
    """False in the static export: kernel controls are disabled there."""
    title = t.Unicode("").tag(sync=True)
    """Heading above the chips ("": the method and the layer)."""

    # -- kernel controls -----------------------------------------------------------------------------
    texts = t.List(t.Unicode()).tag(sync=True)
    """The sentences, one row of chips each."""
    method = t.Unicode("integrated_gradients").tag(sync=True)
    """The registry name of the method (a text-capable one)."""
    options = t.Dict().tag(sync=True)
    """The method's own controls (steps, rule, samples, …), validated and clamped by the registry."""
    target = _FiniteInt(-1).tag(sync=True)
    """Class explained for every sentence; -1: each sentence's predicted class."""
    baseline = t.Union([t.Unicode(), t.Int()], default_value="zero").tag(sync=True)
    """Baseline at the layer of the methods that take one: "zero" (the zero embedding) or a token id."""

    # -- display (front end only) --------------------------------------------------------------------
    alpha = _FiniteFloat(1.0).tag(sync=True)
    """Initial α, 0..1."""
    clip = _FiniteFloat(100.0).tag(sync=True)
    """Percentile of |score| over every token shown where the colour scale ends, 50..100."""
    merge = t.Bool(False).tag(sync=True)
    """Merge subword pieces into words (their scores add up)."""
    show = t.Unicode("attribution").tag(sync=True)
    """What the chips show at α: "attribution" (accumulated up to α) or "gradient" (at α)."""

    def __init__(
        self,
        explainer: TextExplainer,
        texts: list[str],
        *,
        sync: bool = False,
        top_k: int = 5,
        dispatch: Callable[[Callable[[], None]], None] | None = None,
        **traits: Any,
    ) -> None:
        check_keywords(TextExplorer, traits, _KERNEL_OWNED)
        self._explainer = explainer
        self._top_k = int(top_k)
        self._resetting = True
        self.attribution = None
        """The :class:`~attrwidgets.Attribution` of the newest full result (None until it arrives)."""
        vocabulary = {"colormaps": colormap_tables(), "steps_choices": list(_methods.STEPS_CHOICES)}
        method = traits.pop("method", "integrated_gradients")
        options = traits.pop("options", {})
        super().__init__(methods=method_menu(), vocabulary=vocabulary, texts=texts, **traits)
        self.method = method
        self.options = options
        self.targets = explainer.top_classes(texts, self._top_k)
        self._resetting = False
        self.session = Session(explainer, on_result=self._on_result, on_status=self._on_status,
                               plan=Explorer._plan, sync=sync, dispatch=dispatch)  # fmt: skip
        self.observe(self._request, names=list(_KERNEL_CONTROLS))
        self.on_msg(self._on_message)
        self._request()

    # -- validation ------------------------------------------------------------------------------------
    @t.validate("texts")
    def _valid_texts(self, proposal: t.Bunch) -> list[str]:
        try:
            texts = texts_of(proposal.value, "texts")
            self._explainer.encode(texts)  # an empty tokenization is refused here, not on the worker
        except (TypeError, ValueError) as error:
            raise t.TraitError(str(error)) from None
        return texts

    @t.validate("method")
    def _valid_method(self, proposal: t.Bunch) -> str:
        entry = next((m for m in method_menu() if m["name"] == proposal.value), None)
        if entry is None:
            names = [m.name for m in text_methods()]
            msg = f"method {_show(proposal.value)} is not a text-capable method; give one of {names}"
            raise t.TraitError(msg)
        if not entry["available"]:
            msg = f"method {proposal.value!r} {entry['why']}"
            raise t.TraitError(msg)
        return proposal.value

    @t.validate("options")
    def _valid_options(self, proposal: t.Bunch) -> dict[str, Any]:
        value = proposal.value
        if not isinstance(value, dict):
            msg = f"options must be a dict of the method's controls, not {_show(value)}"
            raise t.TraitError(msg)
        return validate_options(self.method, value)

    @t.validate("target")
    def _valid_target(self, proposal: t.Bunch) -> int:
        classes = self._explainer.classes
        return int(_clamp(proposal.value, -1, classes - 1))

    @t.validate("baseline")
    def _valid_baseline(self, proposal: t.Bunch) -> str | int:
        value = proposal.value
        if value == "zero" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return value
        msg = f"baseline {_show(value)} is neither 'zero' (the zero embedding) nor a token id (an int ≥ 0)"
        raise t.TraitError(msg)

    @t.validate("alpha")
    def _valid_alpha(self, proposal: t.Bunch) -> float:
        return _clamp(proposal.value, 0.0, 1.0)

    @t.validate("clip")
    def _valid_clip(self, proposal: t.Bunch) -> float:
        return _clamp(proposal.value, 50.0, 100.0)

    @t.validate("show")
    def _valid_show(self, proposal: t.Bunch) -> str:
        if proposal.value not in SHOW_MODES:
            msg = f"show {_show(proposal.value)} is not one of {list(SHOW_MODES)}"
            raise t.TraitError(msg)
        return proposal.value

    @t.observe("method")
    def _method_changed(self, change: t.Bunch) -> None:
        resetting, self._resetting = self._resetting, True
        try:
            self.options = {}  # a new method starts from its own defaults
        finally:
            self._resetting = resetting

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply values from the browser one by one; a refused value is sent back and reported."""
        for name, value in sync_data.items():
            if name in _KERNEL_OWNED:
                self.send_state(name)
                self._on_status("error", f"refused {name}: only the kernel writes it", None, "", 0)
                continue
            try:
                super().set_state({name: value})
            except (t.TraitError, TypeError, ValueError) as error:
                self.send_state(name)
                message = f"refused {name}={_show(value)}: {error}"
                self._on_status("error", message, None, "Pick a value from the list.", 0)

    # -- requests and answers --------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        params = {"method": self.method, "texts": list(self.texts), "target": self.target, **self.options}
        if REGISTRY[self.method].takes_baseline:
            params["baseline"] = self.baseline
        return params

    def _request(self, change: t.Bunch | None = None) -> int | None:
        if self._resetting:
            return None
        if change is not None and change.get("name") == "texts":
            self.targets = self._explainer.top_classes(self.texts, self._top_k)
        return self.session.request(self._params())

    def _on_result(self, generation: int, stage: str, payload: dict[str, Any], final: bool) -> None:
        attribution = payload.pop("_attribution", None)
        if final and attribution is not None:
            self.attribution = attribution
        self.result = {**payload, "generation": generation, "final": final}

    def cancel(self) -> None:
        """Stop the running computation at its next chunk; the last result stays on screen."""
        self.session.cancel()

    # the explorer's own: one session behind the widget, the same answers and statuses
    _on_message = Explorer._on_message
    _on_status = Explorer._on_status
    error = Explorer.error
    wait = Explorer.wait

    def close(self) -> None:
        """Stop the worker thread and close the widget."""
        session = getattr(self, "session", None)
        if session is not None:
            session.close()
        super().close()

    def save_html(self, path: str | Path, *, title: str | None = None, timeout: float | None = 300.0) -> Path:
        """Write one self-contained HTML page that works offline: the chips, the α scrubber, the
        curves and the display controls work; controls that need the kernel are disabled.
        A computation still running is waited for, up to ``timeout`` seconds (TimeoutError then)."""
        if not self.wait(timeout):
            msg = (
                f"save_html: the token explorer is still computing after {timeout:g} s; nothing was written. "
                "Pass a longer timeout= (None waits as long as it takes)."
            )
            raise TimeoutError(msg)
        state = {n: getattr(self, n) for n in TextExplorer.class_own_traits() if not n.startswith("_")}
        state |= {"interactive": False, "status": {**self.status, "state": "idle"}}
        return export.write(path, state, title=title or f"attrwidgets token explorer: {self.title}", entry="textwidget")


def validate_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of a text-capable ``method`` checked by the registry (``layer`` is the explorer's own)."""
    if "layer" in options:
        msg = "layer is fixed for the token explorer: pass layer= to explore_text()"
        raise t.TraitError(msg)
    try:
        out = _methods.validate(REGISTRY[method], options, layers=[])
    except (ValueError, TypeError) as error:
        raise t.TraitError(str(error)) from None
    out.pop("layer", None)
    return out


def explore_text(
    model: nn.Module,
    text: str | Sequence[str],
    tokenizer: Any = None,
    *,
    layer: nn.Module | str | None = None,
    labels: Sequence[str] | None = None,
    method: str = "integrated_gradients",
    target: int | None = None,
    baseline: str | int = "zero",
    sync: bool = False,
    top_k: int = 5,
    max_frames: int | None = None,
    dispatch: Callable[[Callable[[], None]], None] | None = None,
    **controls: Any,
) -> TextExplorer:
    """Open the token explorer: sentences as token chips, red positive and blue negative.

    Parameters
    ----------
    model : nn.Module
        A text classifier ``model(ids, **forward_kwargs) -> (N, classes)``; the attention mask
        (and token type ids) are passed when its forward takes them.
    text : str or list of str
        One sentence, or several: one row of chips each, with its prediction, on one colour scale.
    tokenizer :
        A Hugging Face tokenizer (used duck-typed: ``tokenizer(text, return_tensors="pt")`` and
        ``convert_ids_to_tokens``), an object with ``encode(texts) -> (ids, mask, tokens)`` such
        as the demo's ``Vocabulary``, or a callable ``text -> ids`` (or ``(ids, tokens)``).
    layer : module or str, optional
        Where to attribute (the token embeddings: ``model.embeddings.word_embeddings``), a module
        of ``model`` or its name; default the model's first ``nn.Embedding``.
    labels : list of str, optional
        Class names.
    method : str
        A text-capable method of the registry (one with a ``layer`` option): "integrated_gradients"
        (default), "gradient", "input_x_gradient", "smoothgrad".
    target : int, optional
        The class explained for every sentence; default each sentence's predicted class.
    baseline : "zero" or int
        The baseline at the layer: the zero embedding (default), or a token id embedded.
    sync : bool
        Compute in the calling thread (scripts, tests); default a worker thread, a coarse answer first.
    top_k : int
        Classes in the target picker.
    max_frames : int, optional
        Most α points whose per-token data are sent (default 64; the curves use every point).
    dispatch : callable, optional
        Runs the session's callbacks (default: the kernel's IO loop; see :class:`~attrwidgets.widgets.Session`).
    **controls :
        The method's own options (``steps``, ``rule``, ``samples``, ``sigma``, …, checked against
        the registry) and the display options ``alpha``, ``clip`` (percentile, 50..100), ``merge``
        (subword pieces into words), ``show`` ("attribution" or "gradient"), ``title``.

    Returns
    -------
    TextExplorer
        ``.attribution`` holds the newest full result, ``.texts`` the sentences (set it to explain
        others), ``.save_html(path)`` writes a static page.
    """
    names = [m.name for m in text_methods()]
    if method not in names:
        msg = f"method={method!r} is not a text-capable method (one that takes layer=); give one of {names}"
        raise ValueError(msg)
    texts = texts_of(text, "text")
    entry = REGISTRY[method]
    option_names = {c.name for c in entry.controls if c.kind in _methods.OPTION_KINDS} - {"layer"}
    options = {k: controls.pop(k) for k in list(controls) if k in option_names}
    unknown = sorted(set(controls) - set(_DISPLAY))
    if unknown:
        valid = sorted({*option_names, *_DISPLAY, "layer", "labels", "target", "baseline", "sync", "top_k",
                        "max_frames", "tokenizer", "method", "dispatch"})  # fmt: skip
        msg = f"explore_text() got unknown keyword(s) {unknown} for method={method!r}; the options are {valid}"
        raise TypeError(msg)
    frames = {"max_frames": max_frames} if max_frames is not None else {}
    explainer = TextExplainer(model, tokenizer, layer=layer, labels=labels, **frames)
    encoded = explainer.encode(texts)  # bad input fails here, in the caller's cell
    kwargs, _ = explainer.forward_kwargs(encoded)
    classes = int(explainer.probabilities(encoded.ids.to(explainer.device), kwargs).shape[1])
    if target is not None and not (isinstance(target, int) and 0 <= target < classes):
        msg = f"target={target!r} is not a class of this model: give 0..{classes - 1}, or None for the predicted class"
        raise ValueError(msg)
    size = getattr(explainer.layer, "num_embeddings", None)
    token = isinstance(baseline, int) and not isinstance(baseline, bool)
    if not (baseline == "zero" or (token and 0 <= baseline < (size or baseline + 1))):
        within = f" (0..{size - 1} for this embedding)" if size else ""
        msg = f"baseline={baseline!r} is neither 'zero' (the zero embedding) nor a token id{within}"
        raise ValueError(msg)
    controls_of = {c.name: c for c in entry.controls}
    for name, value in options.items():
        _check_keyword(controls_of[name], value)  # out of range is an error here (the browser's are clamped)
    try:
        options = validate_options(method, options)
    except t.TraitError as error:
        raise ValueError(str(error)) from None
    return TextExplorer(explainer, texts, sync=sync, top_k=top_k, method=method, options=options, dispatch=dispatch,
                        target=-1 if target is None else int(target), baseline=baseline, **controls)  # fmt: skip
