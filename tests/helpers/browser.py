"""A real browser for page tests: Debian's chromium (apt-get install chromium; .ci/run installs
it) driven by Playwright, which never downloads a browser of its own. Screenshots go to
test-artifacts/browser/ (kept after the run, ignored by git)."""

from __future__ import annotations

import shutil

import pytest

from helpers.paths import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "browser"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_browser():
    """Yields a launched chromium (a generator for a fixture); skips without one."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium here (apt-get install chromium; .ci/run installs it)")
    with sync_api.sync_playwright() as p:
        # as root (CI, containers) chromium needs --no-sandbox
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()
