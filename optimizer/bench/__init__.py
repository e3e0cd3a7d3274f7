"""Benchmarking: public instance suites, synthetic generators, solver configurations and plots."""
