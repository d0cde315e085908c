"""The static HTML export: one self-contained file that works offline from ``file://``.

The page holds the widget's state as JSON in ``<script type="application/json" id="aw-state">``
(binary arrays as ``{"$b64": ...}``) and one module: the front end (``js/`` joined by
:mod:`~attrwidgets.widgets._bundle`), the boot code of ``js/static_page.js`` (a model shim over the
state) and the call that renders the widget into ``<div id="aw-app">``. It needs no kernel, no
widget manager and no network. :meth:`Explorer.save_html <attrwidgets.widgets.Explorer.save_html>`
gathers the state; this module writes the page.

Text inside a ``<script>`` element is not escaped by HTML: the tokenizer ends the element at
``</script`` in any case, and after ``<!--`` followed by ``<script`` it skips the next
``</script>`` (so a label ``<!--<script>`` in the data block would swallow the module and blank the
page). The JSON therefore spells every ``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e``,
``\\u0026`` (``JSON.parse`` reads them back), and the module, our own code, must hold neither
``<!--`` nor ``<script``; its ``</script`` is written ``<\\/script``.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path
from typing import Any

from attrwidgets.widgets._bundle import bundle, scope

__all__ = ["SHIM", "page", "script_json", "script_module", "to_jsonable", "write"]

SHIM = "static_page"
"""The module of ``js/`` that boots the widget in the page (not imported by ``widget.js``)."""
STATE_ID = "aw-state"
APP_ID = "aw-app"

_MARKUP = re.compile(r"<!--|<script", re.IGNORECASE)
_END_TAG = re.compile(r"</(script)", re.IGNORECASE)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>body {{ margin: 16px; background: #fff; }}</style>
</head>
<body>
<div id="{app_id}"></div>
<script type="application/json" id="{state_id}">{state}</script>
<script type="module">
{module}
{shim}
{shim_var}.boot(__aw_default, document, {ids});
</script>
</body>
</html>
"""


def to_jsonable(value: object) -> object:
    """``value`` with bytes as ``{"$b64": ...}`` (``js/static_page.js`` revives them as DataViews)
    and non-finite floats as None."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def script_json(value: object) -> str:
    """Compact JSON that can stand inside a ``<script>`` element whatever its strings hold."""
    text = json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def script_module(source: str) -> str:
    """JavaScript source made safe inside ``<script type="module">``; raises ValueError for
    ``<!--`` or ``<script`` (in any case), which the HTML tokenizer would read as markup."""
    found = _MARKUP.search(source)
    if found:
        line = source.count("\n", 0, found.start()) + 1
        msg = (
            f"the front-end code has {found.group(0)!r} on line {line} of the joined module; inside the "
            "page's <script> the HTML tokenizer reads it as markup. Write it as '<\\!--' or '\\x3cscript'."
        )
        raise ValueError(msg)
    return _END_TAG.sub(r"<\\/\1", source)


def page(state: dict[str, Any], *, title: str, entry: str = "widget") -> str:
    """The HTML of the static page for a widget ``state`` (trait name → value); ``entry`` names
    the widget's module in ``js/`` (the explorer's by default)."""
    shim, shim_var = scope(SHIM)
    return _PAGE.format(
        title=html.escape(title),
        app_id=APP_ID,
        state_id=STATE_ID,
        state=script_json(state),
        module=script_module(bundle(entry, export_default=False)),
        shim=script_module(shim),
        shim_var=shim_var,
        ids=json.dumps({"stateId": STATE_ID, "appId": APP_ID}),
    )


def write(path: str | Path, state: dict[str, Any], *, title: str, entry: str = "widget") -> Path:
    """Write :func:`page` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(page(state, title=title, entry=entry), encoding="utf-8")
    return path
