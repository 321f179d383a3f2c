"""Benchmarks behind the scripts in ``scripts/``: the logic lives here, the scripts parse their
command line and call in (``scripts/bench_frontier.py`` -> `rlvr.benchmarks.frontier`,
``scripts/bench_scale.py`` -> `rlvr.benchmarks.scale`, ``scripts/selection_ceiling.py`` ->
`rlvr.benchmarks.ceiling`). `rlvr.benchmarks.measures` holds the pure measurements on
held-out curves, testable without a model.
"""
