"""The sandbox contains what model-written programs try: each escape test runs the real attack.

These tests need what the sandbox needs (Linux, root, util-linux `unshare`), as CI has. Where
that is missing they fail with the sandbox's own explanation rather than skip: a sandbox that
cannot be built is the failure they exist to catch.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from rewards import sandbox
from rewards.sandbox import SandboxError, SandboxLimits, SandboxUnavailableError, run_python


def processes_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # exited while we looked
        real_uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        if int(real_uid) == uid:
            pids.append(int(entry.name))
    return pids


SANDBOX_UID = SandboxLimits().uid


def leftover_processes(existing: set[int], within_s: float = 3.0) -> set[int]:
    """Sandbox-uid processes not in ``existing`` that are still there after ``within_s``."""
    deadline = time.monotonic() + within_s
    while (left := set(processes_of_uid(SANDBOX_UID)) - existing) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_runs_program_with_files_and_stdin():
    result = run_python(
        "import sys\nprint(open('data.txt').read().upper(), sys.stdin.read())\n"
        "print('to stderr', file=sys.stderr)\nraise SystemExit(3)",
        files={"data.txt": "hello"},
        stdin="from stdin",
    )
    assert result.returncode == 3
    assert result.stdout == "HELLO from stdin\n"
    assert result.stderr == "to stderr\n"
    assert not result.timed_out and result.killed_reason is None
    assert not result.ok


def test_program_runs_unprivileged_in_a_scratch_dir_that_is_removed():
    result = run_python(
        "import os\nopen('out.txt', 'w').write('x')\n"
        "print(os.getuid(), os.getgid(), os.getgroups(), os.getcwd(), sorted(os.listdir('.')))"
    )
    uid, gid, groups, cwd, files = result.stdout.split(" ", 4)
    assert (uid, gid, groups) == ("65534", "65534", "[]")
    assert files.strip() == "['main.py', 'out.txt']"
    assert cwd.startswith(tempfile.gettempdir())
    assert not os.path.exists(cwd)


def test_infinite_loop_is_killed_at_the_wall_clock_limit():
    started = time.monotonic()
    result = run_python("while True:\n    pass", limits=SandboxLimits(wall_time_s=1.0))
    elapsed = time.monotonic() - started
    assert result.timed_out and result.killed_reason == "timeout"
    assert result.returncode is None
    assert 1.0 <= elapsed < 2.5


def test_sleeping_program_that_leaves_its_session_is_still_killed():
    # setsid() takes the program out of the process group the parent kills; PID 1 of the
    # namespace dying must take it down anyway.
    existing = set(processes_of_uid(SANDBOX_UID))
    program = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\ntime.sleep(60)"
    result = run_python(program, limits=SandboxLimits(wall_time_s=0.5))
    assert result.timed_out
    assert leftover_processes(existing) == set()


def test_cpu_time_limit_kills_a_busy_program():
    result = run_python("while True:\n    pass", limits=SandboxLimits(wall_time_s=20, cpu_time_s=1))
    assert result.killed_reason == "cpu_time"
    assert not result.timed_out
    assert result.duration_s < 5


def test_fork_bomb_is_capped_and_leaves_nothing_behind():
    existing = set(processes_of_uid(SANDBOX_UID))
    counted = textwrap.dedent(
        """
        import os, time
        started = 0
        for _ in range(300):
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                started += 1
            except OSError:
                pass
        print(started)
        """
    )
    result = run_python(counted, limits=SandboxLimits(max_processes=16))
    assert result.returncode == 0
    # 16 processes for the uid, machine-wide: the program itself and any already running.
    assert int(result.stdout) == 15 - len(existing)
    assert leftover_processes(existing) == set()

    classic = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run_python(classic, limits=SandboxLimits(wall_time_s=1.5))
    assert result.timed_out
    assert leftover_processes(existing) == set()
    # The machine is fine: this process can still start programs.
    assert subprocess.run(["true"], check=False).returncode == 0


def test_memory_bomb_gets_memory_error():
    result = run_python("x = bytearray(8 << 30)")
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("MemoryError")

    growing = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 << 20))"
    result = run_python(growing, limits=SandboxLimits(memory_bytes=256 << 20))
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("MemoryError")
    assert result.duration_s < 5


def test_writes_outside_the_scratch_dir_fail_even_where_permissions_allow():
    # World-writable, so that only the sandbox's read-only mounts stand in the way.
    open_dir = Path(tempfile.mkdtemp(prefix="rlvr-open-"))
    open_dir.chmod(0o777)
    targets = [
        open_dir / "escaped.txt",
        Path(tempfile.gettempdir()) / "rlvr-escaped.txt",
        Path("/dev/shm/rlvr-escaped.txt"),
        Path("/var/tmp/rlvr-escaped.txt"),
        Path.cwd() / "rlvr-escaped.txt",
    ]
    program = textwrap.dedent(
        f"""
        for path in {[str(t) for t in targets]!r}:
            try:
                open(path, "w").write("escaped")
                print("WROTE", path)
            except OSError as err:
                print("refused", path, err.strerror)
        """
    )
    try:
        result = run_python(program)
        assert result.returncode == 0
        assert "WROTE" not in result.stdout
        assert result.stdout.count("refused") == len(targets)
        assert result.stdout.count("Read-only file system") >= 4
        assert not any(target.exists() for target in targets)
    finally:
        for target in targets:
            if target.exists():
                target.unlink()
        open_dir.rmdir()


def test_file_size_limit():
    result = run_python("open('big', 'wb').write(b'0' * (4 << 20))", limits=SandboxLimits(max_file_bytes=1 << 20))
    assert result.returncode == 1
    assert "File too large" in result.stderr


def test_network_is_unreachable_even_on_loopback():
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    program = textwrap.dedent(
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            print("CONNECTED")
        except OSError as err:
            print("refused:", err)
        """
    )
    try:
        result = run_python(program)
        assert result.stdout.startswith("refused:"), result.stdout + result.stderr
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever arrived
    finally:
        server.close()


def test_parent_environment_is_not_readable(monkeypatch):
    secret = "s3cr3t-token-7f1e"
    monkeypatch.setenv("RLVR_TEST_SECRET", secret)
    program = textwrap.dedent(
        """
        import glob, os
        print("environ", sorted(os.environ), os.environ.get("RLVR_TEST_SECRET"))
        print("parent", os.getppid())
        for path in sorted(glob.glob("/proc/*/environ")) + [f"/proc/{os.getppid()}/environ"]:
            try:
                print(path, open(path, "rb").read())
            except OSError as err:
                print(path, "unreadable:", err.strerror)
        print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        """
    )
    result = run_python(program)
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout
    assert "environ ['HOME', 'LANG', 'PATH', 'TMPDIR'] None" in result.stdout
    # The parent is the namespace's init (root), not the trainer, and the host's processes are
    # not in this /proc at all.
    assert "parent 1\n" in result.stdout
    assert "/proc/1/environ unreadable: Permission denied" in result.stdout
    assert "pids [1, 2]" in result.stdout


def test_huge_output_is_capped():
    limits = SandboxLimits(max_output_bytes=64 << 10)
    result = run_python(
        "import sys\nsys.stdout.write('x' * (50 << 20))\nsys.stderr.write('y' * (1 << 20))",
        limits=limits,
    )
    assert result.returncode == 0
    assert result.stdout == "x" * (64 << 10) and result.stdout_truncated
    assert len(result.stderr) == 64 << 10 and result.stderr_truncated

    endless = "while True:\n    print('z' * 1000)"
    result = run_python(endless, limits=SandboxLimits(wall_time_s=1.0, max_output_bytes=64 << 10))
    assert result.timed_out and result.stdout_truncated
    assert len(result.stdout) == 64 << 10


def test_refuses_to_run_unsandboxed_without_root(monkeypatch):
    monkeypatch.setattr(sandbox, "_availability_checked", False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnavailableError, match="needs root"):
        run_python("print('should not run')")


def test_setup_failure_raises_instead_of_returning_a_result(tmp_path):
    not_python = tmp_path / "python"
    not_python.write_text("#!/bin/sh\nexit 0\n")
    not_python.chmod(stat.S_IRWXU)
    with pytest.raises(SandboxError):
        run_python("print(1)", python=str(not_python))


def test_rejects_file_names_with_directories():
    with pytest.raises(ValueError, match="plain file names"):
        run_python("pass", files={"../escape.py": "x"})
