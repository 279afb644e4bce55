"""The retriever's HTTP contract: request and response bodies.

Requests are pydantic models with `extra="forbid"` so a misspelt field is a 4xx naming it,
not a silently ignored default. Limits that come from the service's config (image size,
text length, k) are checked by `vdgray.retrieval.queries.validate_query`, which turns a
`SearchRequest` into the plain `Query` the model side understands, or a `QueryError`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
