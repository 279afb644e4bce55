"""User-facing errors: one clear line (which file, which field, what was expected).

The CLI prints `error: <message>` for any `VdgrayError` and exits non-zero, so code that
detects bad input raises one of these instead of letting a library traceback escape.
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


def innermost(e: BaseException, link: str = "__cause__") -> BaseException:
    """The end of `e`'s chain of causes along `link`: `__cause__` (a `raise ... from`, as Ray
    Train's `TrainingFailedError` wraps a worker's exception) or `cause` (Ray's task errors)."""
    while getattr(e, link, None) is not None and getattr(e, link) is not e:
        e = getattr(e, link)
    return e
