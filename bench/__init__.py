"""Benchmarks of unfreeze-core: ``python -m bench run --quick|--full`` (see bench/README.md)."""
