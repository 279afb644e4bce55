"""Load generator for `vdgray bench serve`: a separate process sending real HTTP requests.

It runs `concurrency` asyncio workers on one httpx client, each posting /search bodies (taken
in turn from a JSON file) until `requests` have been sent or `max_seconds` have passed, and
prints one JSON line: sent, ok, errors (by status), wall seconds, latencies (ms) percentiles.
Running it in its own process keeps the client's CPU out of the server's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import numpy as np


async def _run(url: str, bodies: list[dict], concurrency: int, requests: int,
               max_seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker():
            nonlocal sent
            while sent < requests and time.monotonic() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(f"{url}/search", json=body)
                    status = str(r.status_code)
                except httpx.HTTPError as e:
                    status = type(e).__name__
                if status == "200":
                    latencies.append(1000 * (time.perf_counter() - t0))
                else:
                    errors[status] = errors.get(status, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {"concurrency": concurrency, "sent": sent, "ok": len(latencies), "errors": errors,
            "wall_s": wall, "qps": len(latencies) / wall if wall else 0.0,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--bodies", required=True, help="JSON file: a list of /search bodies.")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--max-seconds", type=float, default=30.0)
    a = p.parse_args(argv)
    with open(a.bodies) as f:
        bodies = json.load(f)
    res = asyncio.run(_run(a.url, bodies, a.concurrency, a.requests, a.max_seconds))
    sys.stdout.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
