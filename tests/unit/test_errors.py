"""`errors.innermost`: the worker's own exception under Ray's wrappers."""

from vdgray.errors import VdgrayError, chain, innermost


class _TaskError(Exception):
    """Like Ray's task errors: the wrapped exception in `.cause`."""

    def __init__(self, cause):
        super().__init__("task failed")
        self.cause = cause


class _WorkerGroupError(Exception):
    """Like Ray Train's WorkerGroupError: rank -> the worker's exception, no `__cause__`."""

    def __init__(self, worker_failures):
        super().__init__("Training failed due to worker errors")
        self.worker_failures = worker_failures


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
    assert innermost(_TaskError(_TaskError(inner))) is inner
    looped = _TaskError(None)
    looped.cause = looped
    assert innermost(looped) is looped and chain(looped) == [looped]
    plain = ValueError("x")
    assert innermost(plain) is plain
    not_an_exception = _TaskError("a string, not an exception")
    assert innermost(not_an_exception) is not_an_exception


def test_innermost_takes_the_lowest_failed_rank_of_a_worker_group():
    inner = VdgrayError("rank 0")
    group = _WorkerGroupError({3: KeyError("rank 3"), 0: _TaskError(inner)})
    assert innermost(group) is inner
    assert [type(e) for e in chain(group)] == [_WorkerGroupError, _TaskError, VdgrayError]


def test_a_lost_ray_worker_is_found_in_the_chain_and_a_bug_is_not():
    from ray.exceptions import ActorUnavailableError

    from vdgray.errors import lost_worker

    lost = ActorUnavailableError("RPC error: failed to connect", None)
    try:
        try:
            raise lost
        except ActorUnavailableError as e:
            raise RuntimeError("write failed") from e
    except RuntimeError as outer:
        assert lost_worker(outer) is lost
    assert lost_worker(ValueError("ours")) is None
