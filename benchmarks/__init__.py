"""Speed benchmarks of genhep: ``python -m benchmarks.run`` (``make bench``).

See ``benchmarks/README.md`` for the result schema and how to add a benchmark.
"""
