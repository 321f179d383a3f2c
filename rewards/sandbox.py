"""Run untrusted Python (model outputs) in a separate, locked-down process.

>>> from rewards.sandbox import run_python
>>> run_python("print(6 * 7)").stdout  # doctest: +SKIP
'42\\n'

What each protection relies on (Linux only; the parent must run as root, see below):

=====================  ======================================================================
Protection             Mechanism
=====================  ======================================================================
Wall-clock timeout     The parent waits at most ``wall_time_s``, then SIGKILLs the process
                       group it started (``start_new_session``). That kills the PID
                       namespace's init, and the kernel then kills every process in the
                       namespace, including ones that left the process group (``setsid``).
CPU time               ``RLIMIT_CPU`` (SIGXCPU at the limit, SIGKILL one second later).
Memory                 ``RLIMIT_AS`` (allocation fails: ``MemoryError`` in Python).
Process count          ``RLIMIT_NPROC`` on an unprivileged uid (default 65534, ``nobody``).
                       The kernel does not enforce it for root, which is why the program never
                       runs as root. The count is per uid across the machine, so sandboxes
                       running at the same time share it.
Network                A new network namespace holding only a loopback interface that is down:
                       no route anywhere, including the host's 127.0.0.1.
Filesystem writes      A new mount namespace in which every mount is remounted read-only
                       except the scratch directory, itself a fresh size-capped tmpfs
                       (``scratch_bytes``, ``scratch_files``): nothing reaches the host's disk.
                       Plus ``RLIMIT_FSIZE`` per file. Reads are not restricted: whatever the
                       host leaves world-readable is readable.
Environment            The program gets a minimal environment (PATH, LANG, HOME, TMPDIR). The
                       parent's variables cannot be read through ``/proc`` either: the new
                       PID namespace has its own ``/proc`` without the host's processes, and
                       its init (our bootstrap) runs as root, unreadable by the program's uid.
Privileges             ``no_new_privs`` (setuid binaries grant nothing), all supplementary
                       groups dropped, and a private IPC namespace (no SysV shared memory
                       left behind).
Output                 At most ``max_output_bytes`` of stdout and of stderr are kept; the rest
                       is read and discarded (flags ``stdout_truncated``/``stderr_truncated``).
Clean-up               The scratch directory on the host is removed; the tmpfs holding the
                       program's files vanishes with its namespace.
=====================  ======================================================================

Requirements: Linux, ``unshare`` from util-linux, and root (effective uid 0) to create the
namespaces and to drop to the sandbox uid. When any is missing, `run_python` raises
`SandboxUnavailableError` instead of running the program unsandboxed. A setup step that fails
inside the namespaces raises `SandboxError` with the step's message.

Not covered: CPU time is per process (a fork bomb is bounded by the process cap and the wall
clock, not by ``RLIMIT_CPU``); ``RLIMIT_AS`` counts virtual memory, so a program that maps much
more than it touches fails early; there is no syscall filter (seccomp), so kernel bugs reachable
by an unprivileged user are not mitigated.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_BOOTSTRAP = Path(__file__).with_name("_sandbox_init.py")
_PROGRAM_NAME = "main.py"
_STDIN_NAME = ".stdin"
_UNSHARE_FLAGS = (
    "--mount",  # private mounts: read-only remounts and the scratch tmpfs stay in the sandbox
    "--net",  # no network interfaces but a downed loopback
    "--ipc",  # SysV IPC objects die with the sandbox
    "--pid",  # own process tree and /proc; everything dies with its init
    "--fork",  # (needed for --pid: the forked child is the namespace's init)
    "--kill-child",  # if unshare is killed, so is the init, and with it the namespace
    "--mount-proc",  # a /proc that shows only the sandbox's processes
)
# How long to keep reading after a kill for the pipes to close (the kernel tears the namespace
# down asynchronously).
_KILL_GRACE_S = 5.0


class SandboxError(RuntimeError):
    """The sandbox could not be set up for this run (the program did not run)."""


class SandboxUnavailableError(SandboxError):
    """This machine or process cannot provide the sandbox at all (not root, no ``unshare``...)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed run.

    Args:
        wall_time_s (`float`, *optional*, defaults to `10.0`):
            Wall-clock seconds before everything in the sandbox is killed.
        cpu_time_s (`int`, *optional*, defaults to `10`):
            CPU seconds per process (``RLIMIT_CPU``).
        memory_bytes (`int`, *optional*, defaults to 1 GiB):
            Address-space size per process (``RLIMIT_AS``).
        max_processes (`int`, *optional*, defaults to `32`):
            Processes and threads the sandbox uid may have at once (``RLIMIT_NPROC``).
        max_file_bytes (`int`, *optional*, defaults to 16 MiB):
            Largest file the program may write (``RLIMIT_FSIZE``).
        max_open_files (`int`, *optional*, defaults to `256`):
            Open file descriptors per process (``RLIMIT_NOFILE``).
        scratch_bytes (`int`, *optional*, defaults to 64 MiB):
            Size of the scratch tmpfs (all files together).
        scratch_files (`int`, *optional*, defaults to `1024`):
            Number of files and directories the scratch tmpfs can hold.
        max_output_bytes (`int`, *optional*, defaults to 1 MiB):
            Bytes of stdout, and separately of stderr, that are kept.
        uid (`int`, *optional*, defaults to `65534`):
            Unprivileged user id (and group id) the program runs as. Must not be 0.
    """

    wall_time_s: float = 10.0
    cpu_time_s: int = 10
    memory_bytes: int = 1 << 30
    max_processes: int = 32
    max_file_bytes: int = 16 << 20
    max_open_files: int = 256
    scratch_bytes: int = 64 << 20
    scratch_files: int = 1024
    max_output_bytes: int = 1 << 20
    uid: int = 65534

    def __post_init__(self):
        if self.uid == 0:
            raise ValueError("SandboxLimits.uid must not be 0: root ignores RLIMIT_NPROC.")
        if self.wall_time_s <= 0 or self.cpu_time_s <= 0:
            raise ValueError("SandboxLimits time limits must be positive.")


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    Args:
        returncode (`int` or `None`):
            The program's exit code; negative for "killed by signal N"; `None` when the sandbox
            was killed before the program's exit was observed (wall-clock timeout).
        stdout (`str`):
            Captured standard output (UTF-8, undecodable bytes replaced), at most
            ``max_output_bytes``.
        stderr (`str`):
            Captured standard error, likewise.
        stdout_truncated (`bool`):
            Whether stdout was longer than ``max_output_bytes`` (the rest was discarded).
        stderr_truncated (`bool`):
            Whether stderr was longer than ``max_output_bytes``.
        timed_out (`bool`):
            Whether the wall-clock limit was reached.
        duration_s (`float`):
            Wall-clock seconds from start to the last process gone.
        killed_reason (`str` or `None`):
            ``"timeout"``, ``"cpu_time"`` (RLIMIT_CPU), ``"signal:<NAME>"`` for another fatal
            signal, or `None` when the program exited by itself.
    """

    returncode: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    timed_out: bool
    duration_s: float
    killed_reason: str | None

    @property
    def ok(self) -> bool:
        """Whether the program exited with status 0 within its limits."""
        return self.returncode == 0 and not self.timed_out


_availability_checked = False


def ensure_sandbox_available() -> None:
    """Raise `SandboxUnavailableError` unless this process can build the sandbox."""
    global _availability_checked
    if _availability_checked:
        return
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailableError(
            f"The code sandbox needs Linux namespaces; this is {sys.platform}. Refusing to run "
            "untrusted code unsandboxed."
        )
    if os.geteuid() != 0:
        raise SandboxUnavailableError(
            f"The code sandbox needs root (effective uid 0, this process has {os.geteuid()}) to "
            "create mount/network/PID namespaces and to run the program as an unprivileged uid "
            "(RLIMIT_NPROC is not enforced for root). Run the trainer as root in its container. "
            "Refusing to run untrusted code unsandboxed."
        )
    if _unshare_path() is None:
        raise SandboxUnavailableError(
            "The code sandbox needs the 'unshare' program (util-linux) on PATH. Refusing to run "
            "untrusted code unsandboxed."
        )
    _availability_checked = True


def _unshare_path() -> str | None:
    return shutil.which("unshare") or shutil.which("unshare", path="/usr/bin:/bin")


def run_python(
    source: str,
    *,
    files: Mapping[str, str | bytes] | None = None,
    stdin: str | bytes | None = None,
    limits: SandboxLimits | None = None,
    python: str | None = None,
) -> SandboxResult:
    """Run a Python program in the sandbox and return what happened.

    The program runs as ``python -I -S -B main.py`` in its scratch directory (so the standard
    library is importable, installed packages are not, and the scratch directory is not on
    ``sys.path``).

    Args:
        source (`str`):
            The program's source code.
        files (`Mapping[str, str | bytes]`, *optional*):
            Extra files to place beside the program, by plain file name (no directories).
        stdin (`str` or `bytes`, *optional*):
            Data for the program's standard input (default: empty, like ``/dev/null``).
        limits (`SandboxLimits`, *optional*):
            Resource limits; `SandboxLimits()` when omitted.
        python (`str`, *optional*):
            Interpreter to run the program with; defaults to the one running this code.

    Returns:
        `SandboxResult`.

    Raises:
        SandboxUnavailableError: the machine or process cannot provide the sandbox.
        SandboxError: setting the sandbox up failed for this run.
    """
    ensure_sandbox_available()
    limits = limits or SandboxLimits()
    python = os.path.realpath(python or sys.executable)
    scratch = os.path.realpath(tempfile.mkdtemp(prefix="rlvr-sandbox-"))
    try:
        _write_scratch(scratch, source, files or {}, stdin)
        return _run(scratch, limits, python)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_scratch(scratch: str, source: str, files: Mapping[str, str | bytes], stdin) -> None:
    contents: dict[str, str | bytes] = {_PROGRAM_NAME: source}
    for name, content in files.items():
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise ValueError(f"Sandbox file names must be plain file names, got {name!r}.")
        if name in (_PROGRAM_NAME, _STDIN_NAME):
            raise ValueError(f"Sandbox file name {name!r} is reserved.")
        contents[name] = content
    if stdin is not None:
        contents[_STDIN_NAME] = stdin
    for name, content in contents.items():
        data = content.encode() if isinstance(content, str) else bytes(content)
        Path(scratch, name).write_bytes(data)


def _interpreter_dirs(python: str) -> list[str]:
    """Directories the sandbox user must be able to read to run ``python``."""
    prefix = os.path.realpath(sys.base_prefix)
    dirs = [prefix]
    if os.path.commonpath([prefix, python]) != prefix:
        dirs.append(os.path.dirname(python))
    return dirs


def _run(scratch: str, limits: SandboxLimits, python: str) -> SandboxResult:
    status_read, status_write = os.pipe()
    command = _sandbox_command(scratch, limits, python, status_write)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(status_write,),
            start_new_session=True,
            # The parent's environment (tokens, keys) stays here; even the bootstrap gets none.
            env={
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8",
            },
            cwd="/",
        )
    except BaseException:
        os.close(status_read)
        raise
    finally:
        os.close(status_write)

    streams = _collect(process, status_read, started + limits.wall_time_s, limits.max_output_bytes)
    return _result(process, streams, time.monotonic() - started)


def _sandbox_command(scratch: str, limits: SandboxLimits, python: str, status_write: int) -> list[str]:
    """``unshare ... -- python -I -S -B _sandbox_init.py key=value ...``: the bootstrap's settings."""
    stdin_path = os.path.join(scratch, _STDIN_NAME)
    settings = {
        "scratch": scratch,
        "program": _PROGRAM_NAME,
        "python": python,
        "uid": limits.uid,
        "gid": limits.uid,
        "status_fd": status_write,
        "cpu_time_s": limits.cpu_time_s,
        "memory_bytes": limits.memory_bytes,
        "max_processes": limits.max_processes,
        "max_file_bytes": limits.max_file_bytes,
        "max_open_files": limits.max_open_files,
        "scratch_bytes": limits.scratch_bytes,
        "scratch_files": limits.scratch_files,
    }
    if os.path.exists(stdin_path):
        settings["stdin_file"] = stdin_path
    arguments = [f"{key}={value}" for key, value in settings.items()]
    arguments += [f"expose={path}" for path in _interpreter_dirs(python)]
    bootstrap = [python, "-I", "-S", "-B", str(_BOOTSTRAP), *arguments]
    return [_unshare_path(), *_UNSHARE_FLAGS, "--", *bootstrap]


def _result(process: subprocess.Popen, streams: dict, duration: float) -> SandboxResult:
    """The run's result from its collected streams and status; a `SandboxError` when it never started."""
    status = _parse_status(streams["status"])
    if "setup_error" in status:
        raise SandboxError(f"Sandbox setup failed: {status['setup_error']}")
    if not streams["timed_out"] and "ready" not in status:
        stderr = streams["stderr"].decode(errors="replace").strip()
        raise SandboxError(f"Sandbox did not start (exit {process.returncode}): {stderr[-2000:]}")

    returncode = status.get("returncode")
    if returncode is None and not streams["timed_out"]:
        returncode = process.returncode
    return SandboxResult(
        returncode=returncode,
        stdout=streams["stdout"].decode(errors="replace"),
        stderr=streams["stderr"].decode(errors="replace"),
        stdout_truncated=streams["stdout_truncated"],
        stderr_truncated=streams["stderr_truncated"],
        timed_out=streams["timed_out"],
        duration_s=duration,
        killed_reason=_killed_reason(returncode, streams["timed_out"]),
    )


def _collect(process: subprocess.Popen, status_fd: int, deadline: float, max_bytes: int) -> dict:
    """Read stdout, stderr and the status pipe until all close, killing everything at
    ``deadline``. Keeps at most ``max_bytes`` per output stream and drains the rest."""
    kept = {"stdout": bytearray(), "stderr": bytearray(), "status": bytearray()}
    truncated = {"stdout": False, "stderr": False}
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ, "stdout")
    selector.register(process.stderr, selectors.EVENT_READ, "stderr")
    selector.register(status_fd, selectors.EVENT_READ, "status")
    timed_out = False
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if timed_out:
                    break  # the pipes did not close within the grace period after the kill
                timed_out = True
                _kill_group(process)
                deadline = time.monotonic() + _KILL_GRACE_S
                continue
            for key, _ in selector.select(timeout=remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = kept[key.data]
                room = max_bytes - len(buffer) if key.data != "status" else len(chunk)
                if len(chunk) > room:
                    truncated[key.data] = True
                buffer += chunk[:room]
    finally:
        selector.close()
        os.close(status_fd)
        process.stdout.close()
        process.stderr.close()
        if process.poll() is None:
            _kill_group(process)
        process.wait()
    return {
        "stdout": bytes(kept["stdout"]),
        "stderr": bytes(kept["stderr"]),
        "status": bytes(kept["status"]),
        "stdout_truncated": truncated["stdout"],
        "stderr_truncated": truncated["stderr"],
        "timed_out": timed_out,
    }


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _parse_status(raw: bytes) -> dict:
    """The bootstrap's status lines (``ready``, ``returncode <n>``, ``setup_error <message>``)."""
    status: dict = {}
    for line in raw.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "ready":
            status["ready"] = True
        elif key == "returncode":
            status["returncode"] = int(value)
        elif key == "setup_error":
            status["setup_error"] = value
        else:
            status.setdefault("setup_error", f"unreadable status line {line!r}")
    return status


def _killed_reason(returncode: int | None, timed_out: bool) -> str | None:
    if timed_out:
        return "timeout"
    if returncode is None or returncode >= 0:
        return None
    if -returncode == signal.SIGXCPU:
        return "cpu_time"
    try:
        return f"signal:{signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal:{-returncode}"
