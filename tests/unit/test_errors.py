"""`errors.innermost`: the worker's own exception under Ray's wrappers."""

from vdgray.errors import VdgrayError, innermost


class _TaskError(Exception):
    """Like Ray's task errors: the wrapped exception in `.cause`."""

    def __init__(self, cause):
        super().__init__("task failed")
        self.cause = cause


def test_innermost_follows_dunder_cause():
    try:
        try:
            raise VdgrayError("inner")
        except VdgrayError as e:
            raise RuntimeError("outer") from e
    except RuntimeError as e:
        assert str(innermost(e)) == "inner"


def test_innermost_follows_ray_cause_and_stops_on_a_loop():
    inner = VdgrayError("inner")
    assert innermost(_TaskError(_TaskError(inner)), "cause") is inner
    looped = _TaskError(None)
    looped.cause = looped
    assert innermost(looped, "cause") is looped
    plain = ValueError("x")
    assert innermost(plain) is plain and innermost(plain, "cause") is plain
