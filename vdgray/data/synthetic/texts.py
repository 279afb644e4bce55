"""Every text of a synthetic world, for the world language model's tokenizer and training.

Both the VDG model's assembly (models/vdg) and its training (train/) read the same texts,
so the function lives here, beside the world it reads, below both.
"""

from __future__ import annotations

import re


def world_texts(world: str) -> list[str]:
    """Every text a world LM should know: gallery captions, human deltas, the vocabulary."""
    from vdgray import manifest
    from vdgray.data.cirr import load_cirr
    from vdgray.data.synthetic.attributes import VOCAB
    from vdgray.data.synthetic.language import TEMPLATES
    from vdgray.layout import CAPTIONS, cirr_root, world_part

    caps = manifest.read_dataset(world_part(world, CAPTIONS), columns=["caption"])
    texts = caps.column("caption").to_pylist()
    texts += [q.caption for q in load_cirr(cirr_root(world), "train").queries]
    words = [w for vals in VOCAB.values() for w in vals]
    words += [re.sub(r"\{\w+\}", " ", t.text) for ts in TEMPLATES.values() for t in ts]
    return texts + [" ".join(words)]

