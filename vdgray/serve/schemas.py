"""The retriever's HTTP contract: request and response bodies, and query-level errors.

Requests are pydantic models with `extra="forbid"` so a misspelt field is a 4xx naming it,
not a silently ignored default. Limits that come from the service's config (image size,
text length, k) are checked by `validate_query`, which turns a request into the plain
`Query` the model side understands, or a `QueryError` carrying the status and the field.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from vdgray.serve.config import Limits, ServeConfig


class SearchRequest(BaseModel):
    """POST /search: a reference image (base64 `image` or gallery `image_id`) and a text."""

    model_config = ConfigDict(extra="forbid")

    image: str | None = Field(None, description="Reference image, encoded (PNG/JPEG/...) then base64.")
    image_id: str | None = Field(None, description="Reference image by its gallery id.")
    text: str = Field(..., description="Modification text: what to change in the reference.")
    k: int | None = Field(None, description="How many gallery ids to return (1..max_k).")
    exclude_reference: bool = Field(True, description="Leave the reference image itself out of the results (CIRR protocol).")


class BatchSearchRequest(BaseModel):
    """POST /search/batch: several queries answered together, in order."""

    model_config = ConfigDict(extra="forbid")

    queries: list[SearchRequest] = Field(..., description="The queries (1..max_batch_queries).")


class Hit(BaseModel):
    image_id: str
    score: float


class SearchResponse(BaseModel):
    results: list[Hit]
    k: int


class BatchSearchResponse(BaseModel):
    responses: list[SearchResponse]


@dataclass(frozen=True)
class QueryError:
    """Why one query cannot be answered: HTTP `status`, the request `field`, a message."""

    status: int
    field: str
    message: str

    def body(self) -> dict:
        return {"error": f"{self.field}: {self.message}", "field": self.field}


@dataclass(frozen=True)
class Query:
    """A validated query: exactly one of `image` (bytes) and `image_id`."""

    text: str
    k: int
    image: bytes | None = None
    image_id: str | None = None
    exclude_reference: bool = True


def validate_query(req: SearchRequest, cfg: ServeConfig | Limits,
                   where: str = "") -> Query | QueryError:
    """Check a request against the service limits; `where` prefixes field names in errors."""
    if (req.image is None) == (req.image_id is None):
        return QueryError(400, f"{where}image", "give exactly one of image (base64) and image_id")
    if not req.text.strip():
        return QueryError(400, f"{where}text", "must not be empty")
    if len(req.text) > cfg.max_text_chars:
        return QueryError(400, f"{where}text", f"{len(req.text)} characters, at most "
                                               f"{cfg.max_text_chars} allowed")
    k = cfg.default_k if req.k is None else req.k
    if not 1 <= k <= cfg.max_k:
        return QueryError(400, f"{where}k", f"must be between 1 and {cfg.max_k}, got {k}")
    image = None
    if req.image is not None:
        # base64 grows data by 4/3: refuse an oversize image before decoding it
        if len(req.image) > 4 * (cfg.max_image_bytes // 3 + 1) + 4:
            return QueryError(413, f"{where}image", f"larger than {cfg.max_image_bytes} bytes")
        try:
            image = base64.b64decode(req.image, validate=True)
        except (binascii.Error, ValueError):
            return QueryError(400, f"{where}image", "not valid base64")
        if len(image) > cfg.max_image_bytes:
            return QueryError(413, f"{where}image", f"{len(image)} bytes, at most "
                                                    f"{cfg.max_image_bytes} allowed")
        if not image:
            return QueryError(400, f"{where}image", "empty image")
    elif not req.image_id:
        return QueryError(400, f"{where}image_id", "must not be empty")
    return Query(text=req.text, k=k, image=image, image_id=req.image_id,
                 exclude_reference=req.exclude_reference)
