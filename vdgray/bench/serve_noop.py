"""The floor of `vdgray bench serve`: Ray Serve's own per-request cost on this machine.

A deployment with the retriever's route shape (`POST /search` parsing its JSON body, `GET
/healthz`) that does no work: no validation, model or index. Its throughput is the most any
Serve app can reach here with the same proxy, client and CPUs, so the benchmark reports the
retriever against it as well as against the in-process model.
"""

# no `from __future__ import annotations`: FastAPI must see `Request` itself, not a string
from fastapi import FastAPI, Request
from ray import serve

api = FastAPI(title="vdgray bench: no-op Serve app")


@serve.deployment(name="Noop", max_ongoing_requests=256)
@serve.ingress(api)
class NoopService:
    """Answers every search with an empty result list."""

    def __init__(self):
        self.requests = 0

    @api.post("/search")
    async def search(self, request: Request) -> dict:
        body = await request.json()
        self.requests += 1
        return {"results": [], "k": body.get("k", 10) if isinstance(body, dict) else 10}

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", "requests": self.requests}


def build_noop_app(num_cpus: float):
    return NoopService.options(ray_actor_options={"num_cpus": num_cpus}).bind()
