"""The Ray Serve application: one deployment, FastAPI routes on the batched model replica.

`RetrieverService` parses and validates HTTP requests (every bad input is a 4xx JSON error
naming the field, never a 500), owns the model and the FAISS index (loaded once per replica
from the storage URIs) and encodes concurrent queries in one forward pass with
`@serve.batch`. `app` is an application builder, so

    serve run vdgray.serve.app:app index_uri=s3://.../index model_uri=s3://.../cir

and a RayService (`import_path: vdgray.serve.app:app` with `args`) both work; every
`ServeConfig` field can be passed as an arg. Changing `index_uri` in a running app rolls new
replicas out that load the new index; Serve keeps the old ones answering until the new ones
pass their health check, so no request is dropped.
"""


import asyncio
import hashlib
import json
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from ray import serve

from vdgray.config import format_validation_error
from vdgray.errors import ConfigError
from vdgray.retrieval.queries import Query, QueryError, validate_query
from vdgray.retrieval.thumbnails import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE
from vdgray.serve.config import ServeConfig
from vdgray.serve.schemas import BatchSearchRequest, SearchRequest

# a valid body is at most {"queries": [{...}]}: three levels; anything far deeper is abuse
MAX_JSON_DEPTH = 8
MAX_GALLERY_PAGE = 200  # ids per GET /gallery
# the search page: one static file, read once (no build step, nothing fetched from outside)
UI_HTML = resources.files("vdgray.serve").joinpath("static/ui.html").read_text()

api = FastAPI(title="vdgray retriever",
              description="Composed image retrieval: reference image + modification text -> "
                          "gallery image ids.")


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    body = {"error": message}
    if field:
        body["field"] = field
    return JSONResponse(status_code=status, content=body)


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError):
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(x) for x in first.get("loc", ())
                     if x not in ("body", "query", "path")) or "body"
    return _error(422, f"{where}: {first.get('msg', 'invalid request')}", where)


@api.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception):
    return _error(500, f"internal error: {type(exc).__name__}")


def _validation_message(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    field = ".".join(str(x) for x in first["loc"]) or "body"
    return format_validation_error(err, "request").removeprefix("request: key "), field


async def _json_body(request: Request, limit: int):
    """The parsed JSON body, or a JSONResponse (413 too large, 400 not JSON)."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        return _error(413, f"body: {length} bytes, at most {limit} allowed", "body")
    raw = await request.body()
    if len(raw) > limit:
        return _error(413, f"body: {len(raw)} bytes, at most {limit} allowed", "body")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return _error(400, f"body: not valid JSON ({e})", "body")
    except RecursionError:  # nested deeper than the parser's stack
        return _error(400, f"body: nested deeper than {MAX_JSON_DEPTH} levels", "body")
    if json_depth(body) > MAX_JSON_DEPTH:
        return _error(400, f"body: nested deeper than {MAX_JSON_DEPTH} levels", "body")
    return body


def json_depth(value) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    depth, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = (node.values() if isinstance(node, dict)
                    else node if isinstance(node, list) else None)
        if children is None:
            continue
        depth = max(depth, level)
        stack.extend((child, level + 1) for child in children)
    return depth


async def _request(request: Request, model, limit: int):
    """The body validated as `model`, or the JSONResponse saying why not (413/400/422)."""
    body = await _json_body(request, limit)
    if isinstance(body, JSONResponse):
        return body
    try:
        return model.model_validate(body)
    except ValidationError as e:
        msg, field = _validation_message(e)
        return _error(422, msg, field)


def _answer(result) -> dict | JSONResponse:
    if isinstance(result, QueryError):
        return JSONResponse(status_code=result.status, content=result.body())
    return result


@serve.deployment(name="Retriever", max_ongoing_requests=64,
                  health_check_period_s=10, health_check_timeout_s=30)
@serve.ingress(api)
class RetrieverService:
    """The whole service in one replica: HTTP validation and error bodies (FastAPI), then
    the model + index, loaded once per replica, encoding concurrent queries in one forward.

    One deployment, not an ingress in front of a model deployment: every request then
    crosses one Ray hop (proxy -> replica) instead of two, which on a small node is most of
    the cost of a query (see the serving benchmark in docs/serving.md)."""

    def __init__(self, config: dict):
        import ray

        from vdgray.retrieval.retriever import Retriever

        self.cfg = ServeConfig.model_validate(config)
        self.limits = self.cfg.limits()
        # a body holds at most one base64 image (4/3 of its bytes) plus a text and some JSON
        self.one_limit = (4 * (self.limits.max_image_bytes // 3 + 1)
                          + 4 * self.limits.max_text_chars + 4096)
        self.batch_limit = self.limits.max_batch_queries * self.one_limit
        # the GPUs Ray gave this replica (ray_actor_options may come from a RayService YAML
        # rather than from num_gpus in the args), not the config's number, pick the device
        has_gpu = bool(ray.get_gpu_ids())
        self.retriever = Retriever(self.cfg.model_uri, self.cfg.index_uri,
                                   torch_threads=self.cfg.threads(),
                                   device="cuda" if has_gpu else "cpu",
                                   faiss_gpu=self.cfg.faiss_use_gpu(has_gpu),
                                   nprobe=self.cfg.nprobe, image_root=self.cfg.image_root)
        self.search_batched.set_max_batch_size(self.cfg.max_batch_size)
        self.search_batched.set_batch_wait_timeout_s(self.cfg.batch_wait_timeout_s)
        self.forwards = 0  # model calls, and the queries they carried (batch size = ratio)
        self.queries = 0
        self.in_flight = 0  # queries between validation and their answer
        # which replica, on which node, answered: what an operator checks after a node loss
        self.replica = {"id": serve.get_replica_context().replica_id.unique_id,
                        "node_id": ray.get_runtime_context().get_node_id()}

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def search_batched(self, queries: list[Query]) -> list:
        self.forwards += 1
        self.queries += len(queries)
        return await asyncio.to_thread(self.retriever.search, queries)

    async def _search(self, query: Query):
        """One query: batched with the queries in flight beside it; alone, at once.

        The batch wait adapts to the load: a query that finds no other in flight runs
        without waiting `batch_wait_timeout_s` for company that is not coming (at
        concurrency 1 that wait was all of batching's cost); under load, queries that
        arrive while others run are batched into one forward pass."""
        alone = self.in_flight == 0
        self.in_flight += 1
        try:
            if self.cfg.batching and not alone:
                return await self.search_batched(query)
            self.forwards += 1
            self.queries += 1
            return (await asyncio.to_thread(self.retriever.search, [query]))[0]
        finally:
            self.in_flight -= 1

    def check_health(self) -> None:
        self.retriever.check()

    @api.get("/")
    async def describe(self) -> dict:
        c = self.limits
        return {
            "service": "vdgray composed image retrieval",
            "endpoints": {
                "POST /search": {"body": {"image": "base64 encoded image (or use image_id)",
                                          "image_id": "a gallery image id (or use image)",
                                          "text": f"modification text, 1..{c.max_text_chars} chars",
                                          "k": f"results wanted, 1..{c.max_k} (default {c.default_k})",
                                          "exclude_reference": "drop the reference id from the results (default true)"},
                                 "returns": {"results": [{"image_id": "str", "score": "cosine"}], "k": "int"}},
                "POST /search/batch": {"body": {"queries": f"list of /search bodies, 1..{c.max_batch_queries}"},
                                       "returns": {"responses": "one /search answer per query, in order"}},
                "GET /healthz": "200 with the served model and index (and the answering replica and its node) when ready",
                "GET /ui": "the search page (?image_id=...&text=...&k=... runs that search)",
                "GET /images/{image_id}": f"a gallery image as JPEG fitting ?size= pixels ({MIN_SIZE}..{MAX_SIZE}, default {DEFAULT_SIZE})",
                "GET /gallery": f"gallery ids, ?offset= and ?limit= (1..{MAX_GALLERY_PAGE})",
                "GET /": "this description",
            },
            "limits": {"max_image_bytes": c.max_image_bytes,
                       "max_image_pixels": c.max_image_pixels,
                       "max_text_chars": c.max_text_chars, "max_k": c.max_k,
                       "max_batch_queries": c.max_batch_queries,
                       "max_json_depth": MAX_JSON_DEPTH},
            "errors": "4xx with {'error': '<field>: <what was wrong>', 'field': '<field>'}",
        }

    @api.get("/healthz")
    async def healthz(self):
        return {"status": "ok", **self.retriever.describe(), "batching": self.cfg.batching,
                "max_batch_size": self.cfg.max_batch_size, "forwards": self.forwards,
                "queries": self.queries, "replica": self.replica}

    @api.get("/ui")
    async def ui(self):
        return HTMLResponse(UI_HTML)

    @api.get("/gallery")
    async def gallery(self, offset: int = 0, limit: int = 48):
        if offset < 0:
            return _error(400, f"offset: {offset}, expected >= 0", "offset")
        if not 1 <= limit <= MAX_GALLERY_PAGE:
            return _error(400, f"limit: {limit}, expected 1..{MAX_GALLERY_PAGE}", "limit")
        ids = self.retriever.ids
        return {"total": len(ids), "offset": offset, "image_ids": ids[offset:offset + limit]}

    @api.get("/images/{image_id:path}")
    async def image(self, image_id: str, request: Request, size: int = DEFAULT_SIZE):
        if not MIN_SIZE <= size <= MAX_SIZE:
            return _error(400, f"size: {size}, expected {MIN_SIZE}..{MAX_SIZE}", "size")
        tag = hashlib.sha1(f"{self.retriever.index_uri}|{len(self.retriever.ids)}|{image_id}|"
                           f"{size}".encode()).hexdigest()[:20]
        headers = {"Cache-Control": "public, max-age=86400", "ETag": f'"{tag}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        data = await asyncio.to_thread(self.retriever.thumbnail, image_id, size)
        if isinstance(data, QueryError):
            return _answer(data)
        return Response(content=data, media_type="image/jpeg", headers=headers)

    async def _one(self, req: SearchRequest, where: str = ""):
        q = validate_query(req, self.limits, where)
        if isinstance(q, QueryError):
            return q
        res = await self._search(q)
        if isinstance(res, QueryError) and where:
            return QueryError(res.status, where + res.field, res.message)
        return res

    @api.post("/search")
    async def search(self, request: Request):
        req = await _request(request, SearchRequest, self.one_limit)
        if isinstance(req, JSONResponse):
            return req
        return _answer(await self._one(req))

    @api.post("/search/batch")
    async def search_batch(self, request: Request):
        req = await _request(request, BatchSearchRequest, self.batch_limit)
        if isinstance(req, JSONResponse):
            return req
        n = len(req.queries)
        if not 1 <= n <= self.limits.max_batch_queries:
            return _error(400, f"queries: {n} queries, expected 1..{self.limits.max_batch_queries}",
                          "queries")
        results = await asyncio.gather(*(self._one(q, f"queries.{i}.")
                                         for i, q in enumerate(req.queries)))
        bad = next((r for r in results if isinstance(r, QueryError)), None)
        if bad is not None:
            return _answer(bad)
        return {"responses": results}


def build_app(cfg: ServeConfig):
    """The bound application (one `RetrieverService` deployment) for `cfg`."""
    return RetrieverService.options(**cfg.deployment_options()).bind(cfg.model_dump(mode="json"))


def app(args: dict):
    """Application builder for `serve run` / RayService: args are ServeConfig fields."""
    try:
        cfg = ServeConfig.model_validate(dict(args))
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "serve args")) from None
    return build_app(cfg)
