"""FAISS index helpers (build, search, save/load through storage URIs), shared by mine and serve."""

from vdgray.index.faiss_index import (
    DEFAULT_EXACT_MAX,
    auto_nlist,
    build_index,
    gpus_available,
    index_kind,
    load_index,
    resolve_kind,
    save_index,
    search,
    set_nprobe,
    want_gpu,
)

__all__ = [
    "DEFAULT_EXACT_MAX",
    "auto_nlist",
    "build_index",
    "gpus_available",
    "index_kind",
    "load_index",
    "resolve_kind",
    "save_index",
    "search",
    "set_nprobe",
    "want_gpu",
]
