"""`vdgray serve`: run the retriever service on a local (or configured) Ray until Ctrl-C.

`start(cfg)` deploys the application and waits until `/healthz` answers, so the CLI, the
demo's serve check, the benchmark and the tests all get a ready URL from the same code.
"""

from __future__ import annotations

import signal
import time

import click

from vdgray.console import quiet_libraries
from vdgray.errors import VdgrayError
from vdgray.runtime import ensure_ray
from vdgray.serve.config import ServeConfig
from vdgray.stage_options import build_config, config_options


def url_of(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{host}:{port}"


def wait_ready(url: str, timeout_s: float = 180.0) -> dict:
    """Poll GET /healthz until it answers 200; returns its body."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{url}/healthz", timeout=10)
            if r.status_code == 200:
                return r.json()
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except httpx.HTTPError as e:
            last = type(e).__name__
        time.sleep(0.5)
    raise VdgrayError(f"{url}: the retriever did not become ready in {timeout_s:.0f}s ({last})")


def deploy(app, *, name: str, host: str, port: int, ray_cfg=None,
           timeout_s: float = 180.0, proxy_location: str | None = None) -> str:
    """Run a bound Serve app (HTTP on host:port, Serve on the configured Ray) until its
    `/healthz` answers; the ready URL. The retriever and the benchmark's floor app share it."""
    from ray import serve

    ensure_ray(ray_cfg)
    quiet_libraries()  # Serve adds its driver-side console handler when imported
    serve.start(http_options={"host": host, "port": port}, proxy_location=proxy_location)
    serve.run(app, name=name, route_prefix="/", blocking=False)
    url = url_of(host, port)
    wait_ready(url, timeout_s)
    return url


def start(cfg: ServeConfig, timeout_s: float = 180.0) -> str:
    """Deploy the retriever (Serve on the configured Ray, HTTP on cfg.host:cfg.port)."""
    from vdgray.serve.app import build_app

    return deploy(build_app(cfg), name=cfg.app_name, host=cfg.host, port=cfg.port,
                  ray_cfg=cfg.ray, timeout_s=timeout_s, proxy_location=cfg.proxy_location)


def stop() -> None:
    """Shut Serve down (the Ray session stays up)."""
    from ray import serve

    serve.shutdown()


@click.command("serve")
@config_options
@click.option("--model", default=None, help="CIR model URI (overrides model_uri).")
@click.option("--index", "index", default=None, help="Index URI from `vdgray index` (overrides index_uri).")
@click.option("--host", default=None, help="HTTP host (overrides host).")
@click.option("--port", default=None, type=int, help="HTTP port (overrides port).")
def command(config_path, overrides, model, index, host, port):
    """Serve the retriever over HTTP (Ray Serve) until Ctrl-C."""
    cfg = build_config(ServeConfig, config_path, overrides, model_uri=model, index_uri=index,
                       host=host, port=port)
    # SIGTERM (kill, Kubernetes, a CI script) stops the service as cleanly as Ctrl-C, from the
    # moment Serve starts: set after ray.init (which installs a SIGTERM handler that exits at
    # once, leaving the app running on a shared cluster) and before the app is deployed.
    ensure_ray(cfg.ray)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        url = start(cfg)
        click.echo(f"serve: retriever ready at {url} (POST /search, POST /search/batch, "
                   f"GET /healthz, GET / for the API); Ctrl-C stops it")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("serve: stopping")
    finally:
        stop()
