"""The floor of `vdgray bench generate`: a generator that does no model work.

It takes `TransformersGenerator`'s place in the stage (same constructor keywords, same rows
out: the image columns dropped, a `text` added), so a run measures everything around the
model: the pairs read with its triplet ids, the gallery lookup, the filters, the committed
Parquet writes and the end of the run. Its delta names the pair, so no two rows of a batch
repeat one (the dedupe filter would drop them) and every pair becomes one triplet.
"""

from __future__ import annotations

import numpy as np

from vdgray.stages.generate.transformers_backend import IMAGE_COLUMNS


class NoopGenerator:
    """map_batches callable: drops the image bytes, writes "make <ref> look like <tgt>"."""

    def __init__(self, model_uri: str = "", **_settings):
        self.model_uri = model_uri  # not loaded: nothing of the model is used

    def __call__(self, batch: dict) -> dict:
        texts = [f"make {r} look like {t}"
                 for r, t in zip(batch["reference_id"], batch["target_id"], strict=True)]
        out = {k: v for k, v in batch.items() if k not in IMAGE_COLUMNS}
        out["text"] = np.array(texts, dtype=object)
        return out
