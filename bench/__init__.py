"""Benchmarks of cloud-edge-scheduler: ``python -m bench`` (``make bench``), see bench/run.py."""
