"""User-facing errors: one clear line (which file, which field, what was expected).

The CLI prints `error: <message>` for any `VdgrayError` and exits 2, so code that detects bad
input raises one of these instead of letting a library traceback escape; anything else is a
bug and keeps its traceback (`vdgray.error_report`). Ray wraps a worker's exception, so a
failure is judged by its innermost exception.
"""


class VdgrayError(Exception):
    """Base class of every error the CLI reports as a single line."""


class ConfigError(VdgrayError):
    """A config file or override is invalid (unknown key, wrong type, missing value)."""


class StorageError(VdgrayError):
    """A URI cannot be read or written (bad URI, missing object, unreachable S3)."""


class MissingFileError(StorageError):
    """A file that should be there is not (deleted, moved, a volume remounted elsewhere): the
    storage answered, unlike a StorageError for a store that cannot be reached or read."""


class DataFormatError(VdgrayError):
    """An input dataset is malformed (missing file, bad record, image listed but absent)."""


class IncompleteOutputError(StorageError):
    """An output prefix has no `_manifest.json`: the stage that writes it did not finish."""


def wrapped(e: BaseException) -> BaseException | None:
    """The exception `e` wraps, if any: Ray's task errors keep it in `cause`, Ray Train's
    `WorkerGroupError` in `worker_failures` (rank -> exception; the lowest rank is taken),
    and a `raise ... from` in `__cause__`."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException):
        return cause
    failures = getattr(e, "worker_failures", None)
    if isinstance(failures, dict) and failures:
        return failures[min(failures)]
    return e.__cause__


def chain(e: BaseException) -> list[BaseException]:
    """`e` and every exception it wraps, outermost first (a loop ends the chain)."""
    out = [e]
    while (inner := wrapped(out[-1])) is not None and all(inner is not seen for seen in out):
        out.append(inner)
    return out


def innermost(e: BaseException) -> BaseException:
    """The end of `e`'s chain: the worker's own exception under Ray's wrappers, which decides
    whether a failure is a user error (a `VdgrayError`, one line) or a bug (a traceback)."""
    return chain(e)[-1]


class WorkerLostError(VdgrayError):
    """A Ray worker or node went away mid-run in a way Ray did not retry: what was committed
    is kept, and a re-run of the same command resumes."""


def lost_worker(e: BaseException) -> BaseException | None:
    """The Ray error in `e`'s chain that says a worker, actor or node was lost (not a bug of
    ours, not bad input), or None."""
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        NodeDiedError,
        ObjectLostError,
        WorkerCrashedError,
    )

    lost = (ActorDiedError, ActorUnavailableError, NodeDiedError, ObjectLostError,
            WorkerCrashedError)
    return next((link for link in chain(e) if isinstance(link, lost)), None)
