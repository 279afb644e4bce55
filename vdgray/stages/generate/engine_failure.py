"""One line for a vLLM engine that died on every try, instead of Ray's endless restarts.

Ray Data LLM exits an engine's actor when its vLLM engine core dies, and Ray Data restarts
that actor and retries its batch forever unless told otherwise; `build_vllm_processor` bounds
both by `vllm.max_engine_restarts`. When that bound is spent the driver gets Ray's actor-died
error, whose text says only that a worker exited: the engine's own error is in the dead
actor's log. `engine_failure` turns that into an `EngineError` (one line, see
`vdgray.error_report`) naming the engine's first error line, read from the worker logs of
this Ray session when they are on this machine, and saying where the log is either way.
"""

from __future__ import annotations

import glob
import os
import re

from vdgray.errors import VdgrayError, chain
from vdgray.stages.generate.vllm_backend import ENGINE_STAGE

# vLLM's log lines of an exception: `... ERROR 12-07 00:14:39 [core.py:1376] RuntimeError: ...`
_ERROR_LINE = re.compile(r"\bERROR [^\[]*\[[^\]]+\] ((?:[\w.]+\.)?(\w+(?:Error|Exception)): .+)$")
# a Python traceback's last line, as the actor's .err log has it when the engine fails to start
# (`pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig`)
_TRACEBACK_LINE = re.compile(r"^((?:[\w.]+\.)?(\w+(?:Error|Exception)): .+)$")
# what the engine's death is reported as downstream of its cause
_CONSEQUENCES = ("EngineDeadError", "EngineGenerateError")
# errors whose first line only counts them; the next line says what is wrong
_DETAIL_NEXT = ("ValidationError",)


class EngineError(VdgrayError):
    """A generator engine died on every try (the cause is in its log)."""


def _actor_died(e: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RaySystemError

    return any(isinstance(link, (ActorDiedError, ActorUnavailableError, RaySystemError))
               for link in chain(e))


def engine_error_line(logs_dir: str, since: float) -> tuple[str, str] | None:
    """(the first exception line vLLM logged, its file) in the newest worker log under
    `logs_dir` written after `since` that has one; None when none has."""
    found = []
    for path in glob.glob(os.path.join(logs_dir, "worker-*")):
        try:
            mtime = os.path.getmtime(path)
            if mtime < since:
                continue
            with open(path, errors="replace") as f:
                lines = [line.rstrip() for line in f]
            hit = _first_error(lines)
            if hit is not None:
                found.append((mtime, hit, path))
        except OSError:  # a log rotated away meanwhile
            continue
    if not found:
        return None
    _, line, path = max(found)
    return line, path


def _first_error(lines: list[str]) -> str | None:
    """The first exception line of a log, vLLM's (`ERROR ... [file.py:N] XError: ...`) or a
    bare traceback's, that is not a consequence of an earlier one; pydantic's count line gets
    the line that says what failed (`Value error, Unknown quantization method: gguf...`)."""
    for i, line in enumerate(lines):
        m = _ERROR_LINE.search(line) or _TRACEBACK_LINE.match(line)
        if m and m.group(2) not in _CONSEQUENCES:
            detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if m.group(2) in _DETAIL_NEXT and detail:
                return f"{m.group(1)}: {detail[:300]}"
            return m.group(1)
    return None


def session_logs_dir() -> str | None:
    """This driver's Ray session log folder (the worker logs of a local Ray)."""
    import ray

    if not ray.is_initialized():  # no Ray connected: nothing to read
        return None
    ctx = ray.get_runtime_context()  # a session's folder is <temp dir>/<session name>
    return os.path.join(ctx.get_temp_dir(), ctx.get_session_name(), "logs")


def engine_failure(e: BaseException, *, restarts: int, since: float) -> EngineError | None:
    """An `EngineError` for `e` when it is the vLLM engine stage's actor dying for good
    (its restarts spent), else None."""
    if not _actor_died(e) or ENGINE_STAGE not in str(e):
        return None
    logs = session_logs_dir()
    hit = engine_error_line(logs, since) if logs else None
    where = (f"its log: {hit[1]}" if hit else
             f"its log is a worker-*.out under {logs}" if logs else
             "its log is the engine actor's worker log (`ray logs`, or the dashboard)")
    cause = hit[0] if hit else "the engine's error is not in the driver's exception"
    return EngineError(
        f"generate: the vLLM engine died {restarts + 1} time(s) (vllm.max_engine_restarts="
        f"{restarts}): {cause}; {where}")
