"""The README's Python example runs as written (on the shipped toy world)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_api_example_trains_and_writes_the_audit(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "CurriculumGRPOTrainer(" in code and 'curricula={"frontier"' in code
    (tmp_path / "example.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "=== audit: run " in done.stdout
    records = (tmp_path / "runs/api/audit.jsonl").read_text().splitlines()
    assert len(records) == 8  # one frontier decision per prompt group: 4 steps x 2 prompts
