"""`vdgray bench`: a lazy group of benchmarks, one module each."""

from __future__ import annotations

import click

from vdgray.lazy_group import LazyGroup

# name -> ("module:attribute" of a click.Command, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "embed": ("vdgray.bench.embed:command", "Ray Data embedding throughput vs a plain torch loop."),
    "generate": ("vdgray.bench.generate:command",
                 "Batched vs one-at-a-time VDG generation throughput."),
    "mine": ("vdgray.bench.mine:command", "FAISS IVF vs exact all-neighbour search: time, memory, recall."),
    "serve": ("vdgray.bench.serve:command",
              "Retriever over HTTP (Serve, batching on/off) vs in-process: qps, p50/p99."),
}


@click.group(cls=LazyGroup, table=BENCHES, section="Benchmarks")
def command():
    """Measure speed and memory; print a table and write JSON."""
    from vdgray.console import quiet_libraries

    quiet_libraries()  # a bench that saves a model first would print transformers' bars
