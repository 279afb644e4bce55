"""What a retrieval query is, the limits it must keep, and why one cannot be answered.

`validate_query` turns a request (the HTTP body in serve/, or anything with the same fields)
into the plain `Query` the `Retriever` understands, or a `QueryError` carrying the status and
the field, so the service, the benchmark and the generate filter share one set of rules.
"""

from __future__ import annotations

import base64
import binascii
import io
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel


class Limits(BaseModel):
    """What the ingress accepts (its only settings, so an index roll-out leaves it running)."""

    max_image_bytes: int
    max_image_pixels: int
    max_text_chars: int
    max_k: int
    default_k: int
    max_batch_queries: int


class QueryRequest(Protocol):
    """The fields of a query as sent (serve.schemas.SearchRequest has them)."""

    image: str | None
    image_id: str | None
    text: str
    k: int | None
    exclude_reference: bool


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


def validate_query(req: QueryRequest, cfg: Limits, where: str = "") -> Query | QueryError:
    """Check a request against the limits (a `Limits` or a config with its fields, e.g.
    serve's ServeConfig); `where` prefixes field names in errors."""
    if (req.image is None) == (req.image_id is None):
        return QueryError(400, f"{where}image", "give exactly one of image (base64) and image_id")
    bad_text = text_problem(req.text)
    if bad_text:
        return QueryError(400, f"{where}text", bad_text)
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
        bad_image = image_problem(image, cfg.max_image_pixels)
        if bad_image:
            status, why = bad_image
            return QueryError(status, f"{where}image", why)
    elif not req.image_id:
        return QueryError(400, f"{where}image_id", "must not be empty")
    return Query(text=req.text, k=k, image=image, image_id=req.image_id,
                 exclude_reference=req.exclude_reference)


ALLOWED_CONTROLS = "\t\n\r"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be a modification text (not valid Unicode, control characters)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"not valid Unicode (lone surrogate at character {e.start})"
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROLS:
            return f"control character U+{ord(ch):04X} at character {i}"
    return None


def image_problem(data: bytes, max_pixels: int) -> tuple[int, str] | None:
    """(status, why) when the encoded image is unreadable (400) or has more than
    `max_pixels` pixels (413); read from the header alone, before anything is decoded."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError as e:
        return 413, f"too many pixels ({e})"
    except Exception as e:  # PIL raises many types for input it cannot identify
        return 400, f"cannot decode image: {type(e).__name__}: {e}"
    if width * height > max_pixels:
        return 413, (f"{width}x{height} = {width * height} pixels, at most {max_pixels} "
                     "allowed")
    return None
