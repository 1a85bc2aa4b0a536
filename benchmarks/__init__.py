"""Benchmarks: training throughput, time to a target accuracy, FLOP counts and CPU peaks."""
