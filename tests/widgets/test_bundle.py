"""The ES modules joined into the one module anywidget loads."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from attrwidgets.widgets._bundle import _imports, bundle, js_dir
from attrwidgets.widgets.export import SHIM


def test_bundle_has_every_module_and_one_default_export():
    text = bundle()
    modules = [p.stem for p in js_dir().glob("*.js") if not p.name.endswith(".test.js") and p.stem != SHIM]
    assert len(modules) >= 10 and "widget" in modules
    # the widget entries: the modules with a default export (the explorer's widget.js and others)
    entries = [m for m in modules if "\nexport default " in "\n" + (js_dir() / f"{m}.js").read_text(encoding="utf-8")]
    joined = {entry: bundle(entry) for entry in entries}
    for name in modules:  # every module of js/ but the static page's boot code is reachable from an entry
        assert any(f"// ---- js/{name}.js" in b for b in joined.values()), f"js/{name}.js is in no widget"
    for entry, b in joined.items():
        assert f"// ---- js/{SHIM}.js" not in b, "the static page's boot code stays out of the widgets"
        assert b.count("export default") == 1, entry
        assert all(f"// ---- js/{other}.js" not in b for other in entries if other != entry), "one entry per bundle"
    assert text.count("export default") == 1
    assert 'from "./' not in text, "relative imports are resolved"
    assert "https://" not in text, "no CDN imports"
    inline = bundle(export_default=False)
    assert "export default" not in inline and "const __aw_default = " in inline


def test_only_the_supported_import_form_is_accepted():
    assert _imports('import { a, b } from "./x.js";\n') == [(["a", "b"], "x")]
    with pytest.raises(ValueError, match="may only use"):
        _imports('import * as x from "./x.js";\n')


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_bundle_parses_and_exports_render(tmp_path):
    path = tmp_path / "bundle.mjs"
    path.write_text(bundle(), encoding="utf-8")
    out = subprocess.run(
        ["node", "--input-type=module", "-e", f"import m from {str(path.as_uri())!r}; console.log(typeof m.render)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "function"
    assert (js_dir() / "widget.js").is_file()


def test_steps_menu_matches_the_kernel():
    import re

    from attrwidgets.widgets.explorer import STEPS_CHOICES, STEPS_MAX

    text = (js_dir() / "controls.js").read_text(encoding="utf-8")
    menu = re.search(r"STEPS_CHOICES = \[(.*?)\];", text).group(1)
    values = [v.strip().strip('"') for v in menu.split(",")]
    assert values == [str(v) for v in STEPS_CHOICES]
    assert all(v == "auto" or 1 <= v <= STEPS_MAX for v in STEPS_CHOICES)
    assert "controls" in bundle()


def test_channel_reductions_match_the_kernel():
    import re

    from attrwidgets.widgets.explorer import REDUCTIONS

    text = (js_dir() / "channels.js").read_text(encoding="utf-8")
    ids = re.findall(r'^  \["(\w+)", "', text, re.MULTILINE)
    assert tuple(ids) == REDUCTIONS


def test_a_second_entry_joins_only_what_it_imports(tmp_path, monkeypatch):
    # another widget (compare, text) has an entry module of its own in js/, sharing the rest
    from attrwidgets.widgets import _bundle

    (tmp_path / "widget.js").write_text('import { a } from "./shared.js";\nexport default { a };\n')
    (tmp_path / "other.js").write_text('import { b } from "./shared.js";\nexport default { render() { return b; } };\n')
    (tmp_path / "shared.js").write_text("export const a = 1;\nexport const b = 2;\n")
    (tmp_path / "unused.js").write_text("export const c = 3;\n")
    monkeypatch.setattr(_bundle, "js_dir", lambda: tmp_path)
    text = _bundle.bundle("other")
    assert "js/other.js" in text and "js/shared.js" in text
    assert "js/widget.js" not in text and "js/unused.js" not in text
    with pytest.raises(FileNotFoundError, match=r"nothing\.js"):
        _bundle.bundle("nothing")
