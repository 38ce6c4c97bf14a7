"""Benchmarks of the action against the local stand-in.

``python -m bench`` (``make bench``) measures readiness overhead, request counts, scale,
cold start, footprint and teardown, writes ``bench/results.json`` and the chart
``bench/phases.png``, and refreshes the tables in BENCHMARKS.md. ``--quick`` runs every
measurement at its smallest size, into a directory of your choice, to check that the
harness still works.
"""
