"""Join the front end's ES modules (``js/*.js``) into the one module anywidget loads.

anywidget loads ``_esm`` from a blob URL, where relative imports cannot resolve, so the modules
are joined here, with no build tool: each module becomes a function scope that returns what it
exports, and ``import { a, b } from "./x.js"`` becomes ``const { a, b } = <x's scope>``. The
modules keep to that one import form (checked here: anything else raises), so this stays a text
substitution with nothing to configure. ``node --test js/`` runs the modules themselves unjoined.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

__all__ = ["bundle", "js_dir", "scope"]

ENTRY = "widget"
_IMPORT = re.compile(r"^import\s*\{([^}]*)\}\s*from\s*[\"']\./([\w-]+)\.js[\"'];?[ \t]*$", re.MULTILINE)
_ANY_IMPORT = re.compile(r"^\s*import\b", re.MULTILINE)
_EXPORT = re.compile(r"^export\s+(?:async\s+)?(function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)", re.MULTILINE)
_DEFAULT = re.compile(r"^export\s+default\s+", re.MULTILINE)


def js_dir() -> Path:
    """The directory with the ES modules: ``widgets/static`` in an installed package, else the repo's ``js/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "static", here.parents[1] / "js"):
        if (candidate / f"{ENTRY}.js").is_file():
            return candidate
    msg = (
        f"the explorer's JavaScript modules are missing: looked for {ENTRY}.js in {here / 'static'} and the repo's js/"
    )
    raise FileNotFoundError(msg)


def _imports(source: str) -> list[tuple[list[str], str]]:
    found = [([n.strip() for n in names.split(",") if n.strip()], module) for names, module in _IMPORT.findall(source)]
    if len(found) != len(_ANY_IMPORT.findall(source)):
        msg = 'the js/ modules may only use `import { a, b } from "./module.js";` (one per line)'
        raise ValueError(msg)
    return found


def _order(sources: dict[str, str], entry: str = ENTRY) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            msg = f"circular import involving js/{name}.js"
            raise ValueError(msg)
        if name not in sources:
            msg = f"js/{name}.js is imported but missing"
            raise FileNotFoundError(msg)
        visiting.add(name)
        for _, dep in _imports(sources[name]):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    visit(entry)
    return order


def _scope_name(module: str) -> str:
    return "__aw_" + re.sub(r"\W", "_", module)


def _rewrite_imports(source: str) -> str:
    def replace(match: re.Match[str]) -> str:
        names = ", ".join(n.strip() for n in match.group(1).split(",") if n.strip())
        return f"const {{ {names} }} = {_scope_name(match.group(2))};"

    return _IMPORT.sub(replace, source)


@functools.lru_cache(maxsize=4)
def _bundle(directory: str, entry: str, export_default: bool, stamp: tuple[float, ...]) -> str:
    folder = Path(directory)
    sources = {
        p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.js")) if not p.name.endswith(".test.js")
    }
    if entry not in sources:
        msg = f"js/{entry}.js is missing: no widget entry of that name in {folder}"
        raise FileNotFoundError(msg)
    order = _order(sources, entry)
    parts = [f"// attrwidgets {entry}: js/{{{','.join(order)}}}.js joined by attrwidgets/widgets/_bundle.py"]
    for name in order:
        body = _rewrite_imports(sources[name])
        if name == entry:
            if not _DEFAULT.search(body):
                msg = f"js/{entry}.js has no `export default`"
                raise ValueError(msg)
            if not export_default:
                body = _DEFAULT.sub("const __aw_default = ", body, count=1)
            parts.append(f"// ---- js/{name}.js\n{body}")
            continue
        parts.append(_scope(name, body))
    return "\n".join(parts) + "\n"


def _scope(name: str, body: str) -> str:
    """``const __aw_<name> = (() => { <body without "export"> return { <its exports> }; })();``"""
    exported = _EXPORT.findall(body)
    body = _EXPORT.sub(lambda m: m.group(0).removeprefix("export").lstrip(), body)
    names = ", ".join(n for _, n in exported)
    return f"// ---- js/{name}.js\nconst {_scope_name(name)} = (() => {{\n{body}\nreturn {{ {names} }};\n}})();"


def scope(name: str) -> tuple[str, str]:
    """One module of ``js/`` that widget.js does not import (the static page's boot code), as a
    scope to put after :func:`bundle`: ``(code, variable)``, where ``variable`` holds its exports.
    It may import (in the one supported form) only modules the bundle already holds."""
    source = (js_dir() / f"{name}.js").read_text(encoding="utf-8")
    _imports(source)  # only the supported import form
    return _scope(name, _rewrite_imports(source)), _scope_name(name)


def bundle(entry: str = ENTRY, *, export_default: bool = True) -> str:
    """The joined module of one widget: ``entry`` names its module in ``js/`` (``"widget"``, the
    explorer; other widgets have entries of their own, sharing the rest), joined with everything it
    imports. With ``export_default=False`` the widget is bound to ``__aw_default`` instead of
    exported (for an inline ``<script type="module">`` in the static HTML export)."""
    folder = js_dir()
    stamp = tuple(p.stat().st_mtime for p in sorted(folder.glob("*.js")))
    return _bundle(str(folder), entry, export_default, stamp)
