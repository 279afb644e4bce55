"""Every command turns transformers' and huggingface_hub's progress bars ("Loading weights")
off before it runs, unless `--verbose`; one place (the CLI group), not each stage."""

from __future__ import annotations

import pytest

from vdgray.cli import main


@pytest.fixture
def bars_on(monkeypatch):
    """transformers imported with its bars on, as a stage module that imports it leaves them;
    restored afterwards."""
    import huggingface_hub.utils as hub
    import transformers

    monkeypatch.setenv("VDGRAY_VERBOSE", "")
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.setenv(name, "")  # recorded, so the command's setting is undone after
        monkeypatch.delenv(name)
    transformers.utils.logging.enable_progress_bar()
    hub.enable_progress_bars()
    yield transformers.utils.logging, hub
    transformers.utils.logging.enable_progress_bar()
    hub.enable_progress_bars()


def test_a_command_turns_the_model_libraries_bars_off(bars_on):
    tf_logging, hub = bars_on
    assert main(["vdg", "export", "--help"]) == 0
    assert not tf_logging.is_progress_bar_enabled()
    assert hub.are_progress_bars_disabled()


def test_verbose_keeps_them(bars_on):
    tf_logging, hub = bars_on
    assert main(["--verbose", "vdg", "export", "--help"]) == 0
    assert tf_logging.is_progress_bar_enabled()
    assert not hub.are_progress_bars_disabled()
