"""The Visual Delta Generator: a two-image LLaVA that writes the text turning one image into
another. `prompt` (the one prompt template), `build` (assemble/load/save), `stages` (what each
training stage trains), `generate` (batched delta generation). Its CLI stages (assemble,
export) are in `vdgray.stages` (`vdg_assemble`, `vdg_export`).
"""
