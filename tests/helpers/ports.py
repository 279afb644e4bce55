"""A free TCP port on loopback, for servers a test starts (S3, Serve, a Ray head, gloo)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now: bound once by the OS, then released for the caller."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
