"""The retrieval library: a CIR model and its index answering queries, in one process.

The Serve app (serve/), the benchmark (bench/) and the generate retriever filter (stages/)
all import it; it imports none of them.
"""
