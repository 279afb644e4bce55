"""What a vdgray command prints, and where the libraries' own logs go instead.

Our commands speak in their own voice: stage lines, per-epoch metrics, progress, a summary.
Ray's logs (its driver-side loggers, and the stdout/stderr of every worker and actor) and the
model libraries' progress bars stay out of the terminal: Ray writes them to its session log
directory (`/tmp/ray/session_latest/logs`, Ray Data's to `ray-data.log` there), and the Ray
lines our driver would have printed go to `vdgray-driver.log` beside Ray's temp folder.
`--verbose` (or `VDGRAY_VERBOSE=1`) puts everything back on the terminal.

Ray Train workers cannot print to the user without `log_to_driver`, so the training loops
send their epoch lines through a `ProgressChannel` (a Ray queue) that the driver prints.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager

import click

VERBOSE_ENV = "VDGRAY_VERBOSE"
# Ray's driver-side loggers that own a console handler.
RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "ray.serve")
DRIVER_LOG = os.path.join(tempfile.gettempdir(), "ray", "vdgray-driver.log")


def verbose() -> bool:
    """True when the user asked for the libraries' logs on the terminal."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_verbose(on: bool) -> None:
    """Set the switch for this process and every process it starts (Ray workers, jobs)."""
    if on:
        os.environ[VERBOSE_ENV] = "1"
    else:
        os.environ.pop(VERBOSE_ENV, None)


def _driver_log_handler() -> logging.Handler:
    os.makedirs(os.path.dirname(DRIVER_LOG), exist_ok=True)
    handler = logging.FileHandler(DRIVER_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s\t%(process)d\t%(levelname)s %(name)s %(filename)s:%(lineno)s -- %(message)s"))
    handler._vdgray = True  # type: ignore[attr-defined]  # ours: added once per logger
    return handler


def quiet_libraries() -> None:
    """Send Ray's driver-side console logs and the model libraries' progress bars off the
    terminal (no-op when verbose). Idempotent; call again after a library adds handlers."""
    if verbose():
        return
    import ray.data  # noqa: F401  (configures its console handler on import)

    for name in RAY_LOGGERS:
        logger = logging.getLogger(name)
        for h in logger.handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setLevel(logging.ERROR)
        if name in ("ray", "ray.serve") and not any(getattr(h, "_vdgray", False)
                                                    for h in logger.handlers):
            logger.addHandler(_driver_log_handler())
    quiet_model_libraries()


def quiet_model_libraries() -> None:
    """transformers' and huggingface_hub's progress bars ("Loading weights") and info logs
    off the terminal, unless verbose. Cheap (imports nothing), so the CLI calls it before
    every command: the environment reaches the libraries when they are imported later, here
    or in the Ray workers this process starts, and a library already imported is told."""
    if verbose():
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    if "transformers" in sys.modules:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()


def ray_init_kwargs() -> dict:
    """The `ray.init` arguments that decide what reaches the terminal: workers' and actors'
    output stays in their log files unless verbose."""
    return {"log_to_driver": verbose()}


class ProgressChannel:
    """Lines from Ray workers to the user's terminal: `say` on a worker, printed by the
    driver that opened the channel (see `progress_channel`)."""

    def __init__(self, queue):
        self._queue = queue

    def say(self, line: str) -> None:
        try:
            self._queue.put_nowait(str(line))
        except Exception:  # a full or gone queue never stops training
            pass


def say(channel: ProgressChannel | None, line: str) -> None:
    """Print `line` for the user from a worker (through `channel`) or in-process."""
    if channel is None:
        click.echo(line)
    else:
        channel.say(line)


@contextmanager
def progress_channel():
    """A `ProgressChannel` whose lines the driver prints while the block runs.

    Its queue actor lives on the driver's node: on a cluster, a worker node lost mid-run
    (whose workers Ray restarts elsewhere) must not take the channel with it."""
    import ray
    from ray.util.queue import Empty, Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    queue = Queue(maxsize=10_000, actor_options={"num_cpus": 0, "scheduling_strategy": here})
    stop = threading.Event()

    def pump():
        while True:
            try:
                click.echo(queue.get(block=True, timeout=0.2))
            except Empty:
                if stop.is_set():
                    return
            except Exception:  # the queue actor is gone: nothing more will come
                return

    thread = threading.Thread(target=pump, name="vdgray-progress", daemon=True)
    thread.start()
    try:
        yield ProgressChannel(queue)
    finally:
        stop.set()
        thread.join(timeout=10)
        queue.shutdown()
