"""`finish_distributed_process` ends a finished gloo run with status 0, after its atexit handlers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_finished_two_process_run_exits_0_after_its_atexit_handlers(tmp_path, free_port):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port),
        str(ROOT / "tests/fixtures/gloo_finish.py"),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "terminate called" not in done.stderr
    for rank in (0, 1):
        assert (tmp_path / f"gathered.rank{rank}").read_text() == "[[49.0, 49.0, 49.0, 49.0], [50.0, 50.0, 50.0, 50.0]]"
        assert (tmp_path / f"atexit.rank{rank}").read_text() == "ran"  # what a normal exit runs, ran
        assert not (tmp_path / f"after_finish.rank{rank}").exists()  # the process ended there


def test_single_process_returns():
    from rlvr.distributed import finish_distributed_process

    assert finish_distributed_process() is None  # no process group: nothing to do, no exit
