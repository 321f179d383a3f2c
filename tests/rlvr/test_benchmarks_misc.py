"""The pure summaries behind the benchmark scripts (`rlvr.benchmarks`), on hand-computed numbers."""

from types import SimpleNamespace

import pytest

from rlvr.benchmarks.audit import decision_mix, disk_bytes
from rlvr.benchmarks.compat import memory_summary
from rlvr.benchmarks.compat_experiment import data_quality, mean_sd
from rlvr.benchmarks.influence import memory_report, verdicts_line
from rlvr.benchmarks.verifiers import math_pairs


def test_decision_mix_most_common_first():
    decisions = [SimpleNamespace(decision=d) for d in ["kept"] * 6 + ["skipped"] * 3 + ["dropped"]]
    assert decision_mix(decisions) == "kept 60%, skipped 30%, dropped 10%"


def test_disk_bytes_of_a_folder_and_a_file(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 5)
    assert disk_bytes(tmp_path) == 15
    assert disk_bytes(tmp_path / "a") == 10


def test_compat_memory_summary():
    # 10x the rows: peak 110 -> 112 MiB (1.018x), growth 10 -> 12 MiB, heap 1.0 -> 2.0 MiB
    results = [(500, 100.0, 110.0, 1.0), (5000, 100.0, 112.0, 2.0)]
    assert memory_summary(results, heap=True) == (
        "  5,000 vs 500 rows: peak RSS ratio 1.018x, RSS growth 12.0 vs 10.0 MiB (+2.0 MiB for 10x the rows), "
        "Python-heap peak ratio 2.00x"
    )
    assert memory_summary(results, heap=False).endswith("(+2.0 MiB for 10x the rows)")


def test_compat_experiment_data_quality_and_mean_sd():
    pairs = [("1+1=", "2"), ("3+4=", "3+4=7"), ("2+3=", "6")]
    answers = {"1+1=": "2", "3+4=": "7", "2+3=": "5"}
    # two final answers right (2, 7), one worked chain
    assert data_quality(pairs, answers) == {"rows": 3, "correct": 2 / 3, "chains": 1 / 3}
    assert data_quality([], {}) == {"rows": 0, "correct": 0.0, "chains": 0.0}
    mean, sd = mean_sd([0.5, 0.7])
    assert mean == pytest.approx(0.6) and sd == pytest.approx(0.1414213562)  # sqrt(0.02)
    assert mean_sd([0.4]) == (0.4, 0.0)


def test_influence_memory_report_and_verdicts():
    small = {"rows": 100, "peak_kib": 204800, "before_kib": 102400, "seconds": 0.5, "disk_bytes": 1640000}
    large = {"rows": 1000, "peak_kib": 256000, "before_kib": 102400, "seconds": 4.0, "disk_bytes": 0}
    small["bytes_per_row"] = 16392
    report = memory_report(small, large, feature_dim=8192)
    # 204800 KiB = 200 MiB peak, +100 MiB; 256000 KiB = 250 MiB, +150 MiB; 250/200 = 1.25x, 150/100 = 1.5x
    assert "bytes stored per example: 16392 (fp16 features 16384 + fp32 norm 4 + fp32 loss 4)" in report
    assert "on disk 16400 B/row" in report
    assert "     100 rows:   200.0 MiB peak (100.0 before, +100.0), 5.00 ms/row" in report
    assert "    1000 rows:   250.0 MiB peak (100.0 before, +150.0), 4.00 ms/row" in report
    assert report.endswith("10x rows / 1x rows: peak 1.250x, growth 1.50x")
    per = {"plain": 1.0, "fast": 1.2, "less": 15.0}  # 1.2x plain, 12.5x faster than LESS
    assert verdicts_line(per, small, large) == (
        "\ntargets: fast <= 1.5x plain forward+backward (LoRA): met; fast >= 10x faster than the LESS loop: met; "
        "peak memory flat from 1x to 10x rows (<= 1.1x): MISSED"
    )


def test_math_pairs_cycle_through_four_forms():
    pairs = math_pairs(8)
    assert len(pairs) == 8 and pairs == math_pairs(8)  # seeded
    assert [completion.startswith(f"Step {i}:") for i, (completion, _) in enumerate(pairs)] == [True] * 8
    assert "\\boxed{" in pairs[0][0] and "\\dfrac{" in pairs[3][0] and "\\frac{" in pairs[1][0]
