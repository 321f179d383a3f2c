"""Benchmarks behind the scripts in ``scripts/``: the logic lives here, the scripts parse their
command line and call in (``scripts/bench_frontier.py`` -> `rlvr.benchmarks.frontier`,
``scripts/bench_scale.py`` -> `rlvr.benchmarks.scale`, ``scripts/selection_ceiling.py`` ->
`rlvr.benchmarks.ceiling`, ``scripts/bench_audit.py`` -> `rlvr.benchmarks.audit`,
``scripts/bench_influence.py`` -> `rlvr.benchmarks.influence`, ``scripts/bench_compat.py`` ->
`rlvr.benchmarks.compat`, ``scripts/compat_experiment.py`` -> `rlvr.benchmarks.compat_experiment`,
``scripts/bench_verifiers.py`` -> `rlvr.benchmarks.verifiers`, ``scripts/gpu_check.py`` ->
`rlvr.benchmarks.gpu_check`). `rlvr.benchmarks.measures` holds the pure measurements on
held-out curves, testable without a model.
"""
