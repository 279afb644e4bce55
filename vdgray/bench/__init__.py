"""Benchmarks (`vdgray bench NAME`): each prints a table and writes JSON, as ratios to a baseline."""
