"""Benchmarks of Saline beside its peers, run side by side in one process."""
