"""How every entry point (the `vdgray` CLI, the Ray job scripts, `python -m` modules) reports
a failure, so a user sees the same thing whichever way a stage was started.

A user error (a `VdgrayError` at the end of the cause chain, however deep Ray wrapped it) is
one line `error: ...` and exit 2. Anything else is a bug: its traceback is printed, the
worker's own one when Ray wrapped it (Ray keeps a worker's traceback only as text, in the
task error or in Ray Train's worker-group error), then one `error:` line, and exit 1. With
`--verbose` the whole chain as Python formats it is printed instead: nothing is ever hidden.
"""

from __future__ import annotations

import io
import re
import sys
import traceback
from collections.abc import Callable
from typing import TextIO

from vdgray.errors import VdgrayError, chain, innermost

PREFIX = "error: "  # the one prefix of every failure line, click's usage errors included
USER_ERROR = 2
BUG = 1
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the worker's name in its task errors


def _carries_worker_traceback(e: BaseException) -> bool:
    """Ray's task error (its text is the worker's traceback) or Ray Train's worker-group
    error (its text holds each failed rank's). No Ray imported: no Ray error to look for."""
    if isinstance(getattr(e, "worker_failures", None), dict):
        return True
    if "ray.exceptions" not in sys.modules:
        return False
    from ray.exceptions import RayTaskError

    return isinstance(e, RayTaskError)


def worker_traceback(e: BaseException) -> str | None:
    """The innermost traceback Ray carries as text in `e`'s chain, None when no Ray wrapper
    is in it (the exception was raised in this process and has its own traceback)."""
    text = None
    for link in chain(e):
        if _carries_worker_traceback(link):
            text = _ANSI.sub("", str(link)).rstrip()
    return text


def summary(e: BaseException) -> str:
    """`Type: first line of the message` of an exception."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def report(e: BaseException, verbose: bool | None = None, file: TextIO | None = None) -> int:
    """Print `e` for the user (see the module's doc); return the exit code."""
    from vdgray.console import verbose as verbose_env

    out = file or sys.stderr
    inner = innermost(e)
    if isinstance(inner, VdgrayError):
        # Our messages are one line; Ray Data appends its retry advice to a task's exception.
        lines = str(inner).strip().splitlines()
        print(f"{PREFIX}{lines[0] if lines else type(inner).__name__}", file=out)
        return USER_ERROR
    verbose = verbose_env() if verbose is None else verbose
    remote = None if verbose else worker_traceback(e)
    if remote is None:
        print("".join(traceback.format_exception(e)).rstrip(), file=out)
    else:
        print(remote, file=out)
        for note in getattr(e, "__notes__", ()):
            print(note, file=out)
    print(f"{PREFIX}unexpected {summary(inner)} (a bug: the traceback above is what to report)",
          file=out)
    return BUG


def guard(fn: Callable[[], object]) -> int:
    """Run `fn`; 0 when it returns, else `report`'s exit code."""
    try:
        fn()
    except Exception as e:
        return report(e)
    return 0


def run_click(command, argv: list[str] | None = None, prog_name: str | None = None) -> int:
    """Run a click command as a console entry (`vdgray`, a `python -m` module); the exit code:
    0, click's own for usage errors (printed with our prefix), 130 aborted, else `report`'s."""
    import click

    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except click.ClickException as e:
        print(click_error_text(e), file=sys.stderr)
        return e.exit_code
    except Exception as e:
        return report(e)
    return 0


def click_error_text(e) -> str:
    """A click usage error as click shows it (usage line, hint), with our `error:` prefix."""
    buf = io.StringIO()
    e.show(file=buf)
    text = buf.getvalue()
    theirs = f"Error: {e.format_message()}"
    at = text.rfind(theirs)
    if at < 0:  # a translated click: keep its text
        return text.rstrip("\n")
    return (text[:at] + PREFIX + text[at + len("Error: "):]).rstrip("\n")
