"""vdgray: Visual Delta Generator pipeline for semi-supervised composed image retrieval on Ray.

Importing the package never starts Ray; stages call `vdgray.runtime.ensure_ray` when they need it.
"""

__version__ = "0.1.0"
