"""The retriever filter of `vdgray generate`, built on a trained CIR model and its index.

With `filters.retriever_model` (a `train-cir` output) and `filters.retriever_index` (a
`vdgray index` output over the same gallery the pairs come from), a pseudo triplet is kept
only when that retriever, asked (reference image, generated delta), ranks the pair's target
in its top-k: the current model vouches for the new delta. Ranking goes through the serving
path itself (`vdgray.retrieval.retriever.Retriever`), so the filter and the server agree.
"""

from __future__ import annotations

from collections.abc import Sequence


class CirRank:
    """rank(reference_images, texts, target_ids, reference_ids) -> rank of each target
    (0 = first answer; `top_k` when it is not in the top `top_k`, or the query is invalid)."""

    takes_reference_ids = True

    def __init__(self, model_uri: str, index_uri: str, top_k: int,
                 torch_threads: int | None = None):
        from vdgray.retrieval.retriever import Retriever

        self.retriever = Retriever(model_uri, index_uri, torch_threads=torch_threads)
        self.top_k = top_k

    def __call__(self, images: Sequence[bytes], texts: Sequence[str], target_ids: Sequence[str],
                 reference_ids: Sequence[str] | None = None) -> list[int]:
        from vdgray.retrieval.queries import Query

        refs = list(reference_ids) if reference_ids is not None else [None] * len(images)
        # The reference is in the index too; ask for one more and drop it by id.
        queries = [Query(text=t, k=self.top_k + 1, image=bytes(img), exclude_reference=False)
                   for img, t in zip(images, texts, strict=True)]
        ranks = []
        for answer, target, ref in zip(self.retriever.search(queries), target_ids, refs,
                                       strict=True):
            if not isinstance(answer, dict):  # a QueryError: the delta cannot be vouched for
                ranks.append(self.top_k)
                continue
            ids = [h["image_id"] for h in answer["results"] if h["image_id"] != ref][:self.top_k]
            ranks.append(ids.index(target) if target in ids else self.top_k)
        return ranks
