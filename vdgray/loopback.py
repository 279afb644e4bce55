"""Servers on 127.0.0.1 that our commands and tests start for themselves: a free port, and
moto's S3 with the standard AWS_* variables pointing at it (so boto3, pyarrow and every Ray
worker started afterwards talk to it as to any S3-compatible store)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

AWS_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
            "AWS_SESSION_TOKEN")


def free_port() -> int:
    """A port nothing listens on now: bound once by the OS, then released for the caller."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def loopback_s3(key: str = "testing") -> Iterator[str]:
    """moto's ThreadedMotoServer on a free port; yields its endpoint URL. The AWS_* variables
    are set while it runs (child processes inherit them) and put back on exit."""
    import logging

    from moto.server import ThreadedMotoServer

    # moto serves through werkzeug, which logs every request: noise in a command's output
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in AWS_KEYS}
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=key,
                      AWS_SECRET_ACCESS_KEY=key, AWS_REGION="us-east-1")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
