"""Where Debian's Chromium is and the flags it is launched with, headless and offline.

One list for the browser tests (tests/ui/conftest.py) and the widget benchmark
(benchmarks/widget_bench.py), so that the benchmark measures the browser the tests check.
The flags come from /work/shared/recipes/browser-testing.md. Plain module: no pytest here.
"""

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
