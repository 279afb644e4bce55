"""The `generate` stage: pseudo triplets from mined pairs with the exported VDG, at scale.

`stage` holds its config, `run` and click command (the stage table points there); the other
modules are its parts: `join` (pairs + images), `backends` / `vllm` (the generators),
`filters` and `rank` (optional quality filters), `committed` (resume after a kill) and
`resources` (the CPU fit check).
"""
