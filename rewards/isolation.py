"""Verifiers that can be killed: a pool of worker processes with a deadline per completion.

A verifier stuck inside C code that holds the interpreter lock (a catastrophic regular
expression in ``re``, a huge integer power in sympy) cannot be interrupted in the process that
runs it: no signal handler and no other thread gets to run (see `rewards.timeouts`). It can only
be killed from outside. So the TRL adapter (`rewards.adapter`) sends the completions of a
process-isolated verifier to a `VerifierPool`:

- A few worker processes (`default_worker_count`: ``min(2, CPUs)``, or the
  ``RLVR_VERIFIER_WORKERS`` environment variable) are started on first use and reused by every
  later call; each process (each accelerate rank) has its own pool.
- A batch goes to the workers in chunks (a 64-completion TRL batch with 2 workers: 4 chunks, one
  message each way per chunk), and the deadline is enforced per completion: each worker writes
  which completion it is on, and since when, into a few bytes of memory it shares with the
  parent (no message per completion; the parent looks only when a deadline is due). A worker
  still on one completion ``timeout_s`` after starting it is killed (SIGKILL) and replaced; that
  completion gets a ``timeout`` outcome and the rest of its chunk (the completions it had scored
  too: their results die with it) is scored again by the other workers. A worker that dies on
  its own (a segfault) costs the completion it was on the same way (``raised``, ``WorkerDied``).
- A batched verifier (``register_verifier(batched=True)``) gets the whole batch in one call,
  with ``timeout_s`` times the batch size for the whole call, as it does inline.

Workers are fresh interpreters (``subprocess.Popen`` of ``sys.executable``: fork+exec, like
multiprocessing's ``spawn``, so they are safe to start from a process with torch threads). Unlike
multiprocessing's ``spawn`` and ``forkserver`` they never import the main script (an unguarded
training script would otherwise run again in every worker). A worker gets the parent's
``sys.path``, imports ``rewards`` and the `DEFAULT_PRELOAD` modules (math-verify, so the first
``math`` call in a fresh worker is not charged its import), then finds each verifier the way the
parent did and caches it:

1. by its spec name, with `rewards.registry.get_verifier` (a registered name, after importing the
   module or loading the file that defines the function; ``package.module:function``;
   ``path/file.py:function``, made absolute in the parent; an entry point), when that gives the
   same function;
2. else by reference (``pickle``: module and qualified name), for functions registered at run
   time but defined at the top level of an importable module or verifier file.

A registered name whose function cannot be pickled by reference (a function or lambda defined
in ``__main__``, which workers do not import, or inside another function) runs inline, in the
training process, under
`rewards.timeouts`, and one warning per verifier says it is not killable. So does every verifier
when worker processes cannot be started at all (no ``pass_fds`` on Windows, a worker that dies
before it is ready three times in a row).

Workers die with their parent: each exits when its pipe closes, and on Linux asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``; workers are started from one long-lived
launcher thread because that signal follows the thread that started the child). The pool shuts
down at interpreter exit (``atexit``): idle workers are told to stop, the rest are killed.

A process-isolated verifier runs in another process: it must not rely on state it shares with
the training process (a list it appends to, a counter), and its ``print`` output goes to the
same terminal.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import importlib
import logging
import math
import mmap
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards import registry
from rewards.base import call_sync
from rewards.outcomes import as_reward, classify_batch

logger = logging.getLogger(__name__)

# Imported by each worker before it reports ready: the ``math`` verifier imports math-verify
# (and sympy, ~0.6 s) on its first call, which would otherwise be charged to the first
# completion a fresh worker scores. A module that is not installed is skipped.
DEFAULT_PRELOAD: tuple[str, ...] = ("math_verify",)
# A worker must be ready, and must have found the verifier of a chunk, within this many seconds.
STARTUP_TIMEOUT_S = 120.0
# Workers dying before they are ready this many times in a row: give up on the pool.
MAX_START_FAILURES = 3
WORKERS_ENV = "RLVR_VERIFIER_WORKERS"

# An outcome is ("ok", value) or (kind, exception_type, message) with kind "raised",
# "bad_return" or "timeout": the arguments of `VerifierRewardFunc._report`.
Outcome = tuple

# The worker's first lines, run with ``python -c``: ignore Ctrl-C (the parent handles it and
# shuts the pool down), take sys.path from the parent, then import and run `_worker_main`.
# Arguments: the pipe's file descriptor, the progress memory's, the parent's pid.
_BOOTSTRAP = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "from multiprocessing.connection import Connection\n"
    "conn = Connection(int(sys.argv[1])); sys_path, preload = conn.recv(); sys.path[:] = sys_path\n"
    "from rewards.isolation import _worker_main\n"
    "_worker_main(conn, int(sys.argv[2]), int(sys.argv[3]), preload)\n"
)
# A worker's progress, in memory shared with the parent: (task id, index of the item it is on
# or -1 while it finds the verifier, time.monotonic() when it began that). CLOCK_MONOTONIC is
# the same clock in every process of the machine.
_PROGRESS = struct.Struct("=qqd")


class WorkerUnavailable(RuntimeError):
    """The pool cannot run this verifier (it cannot be found in a worker, or no worker starts)."""


class PoolClosed(WorkerUnavailable):
    """The pool was shut down (at interpreter exit): a call still in flight on another thread
    must fail, not fall back to running the verifier inline, where a call stuck in C code would
    hold the interpreter lock and keep the process from exiting."""


@dataclass(frozen=True)
class WorkerTarget:
    """How a worker finds one verifier (built in the parent by `worker_target`).

    Args:
        spec (`str`):
            The spec name for `get_verifier`; a ``file.py:function`` location is absolute.
        module (`str`, *optional*):
            Module to import before resolving ``spec`` (it may register the name on import).
        module_file (`str`, *optional*):
            Verifier file to load before resolving ``spec`` (a function registered by a file
            that `get_verifier` loaded from a ``file.py:function`` spec).
        qualname (`str`, *optional*):
            The function's qualified name: what ``spec`` must resolve to in the worker.
        pickled (`bytes`, *optional*):
            The function pickled by reference, tried when ``spec`` does not resolve to it.
        batched (`bool`):
            Whether the verifier takes the whole batch.
    """

    spec: str
    module: str | None
    module_file: str | None
    qualname: str | None
    pickled: bytes | None
    batched: bool


def worker_target(spec_name: str, verifier: Callable) -> tuple[WorkerTarget | None, str | None]:
    """``(target, None)`` when a worker can look for ``verifier``; ``(None, reason)`` otherwise."""
    module_name = getattr(verifier, "__module__", None)
    module = sys.modules.get(module_name or "")
    from_main = module_name in ("__main__", "__mp_main__")
    module_file = None
    if module is not None and not from_main and module in registry._FILE_MODULES.values():
        module_file = getattr(module, "__file__", None)
    try:
        pickled = None if from_main else pickle.dumps(verifier)
        pickle_problem = "it is defined in __main__, which workers do not import"
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        pickled, pickle_problem = None, f"it cannot be pickled by reference ({err})"
    # A "module:function" or "file.py:function" spec is found by the spec itself; a registered
    # name needs the function by reference (its module, imported in the worker, registers it).
    if pickled is None and ":" not in spec_name:
        return None, pickle_problem
    target = WorkerTarget(
        spec=_absolute_file_spec(spec_name),
        module=None if from_main or module_file or module is None else module_name,
        module_file=module_file,
        qualname=getattr(verifier, "__qualname__", None),
        pickled=pickled,
        batched=registry.is_batched(verifier),
    )
    return target, None


def plan_isolation(spec_name: str, isolation: str | None, verifier: Callable, display_name: str) -> WorkerTarget | None:
    """The worker target when ``verifier`` should run in the pool, `None` to run it inline.

    ``isolation`` is the spec's; `None` takes the registration default, else ``"process"``.
    A verifier that should run in the pool but cannot gets one warning (`warn_not_killable`).
    """
    mode = isolation or registry.isolation_default(verifier) or "process"
    if mode == "inline":
        return None
    target, reason = worker_target(spec_name, verifier)
    if target is None:
        warn_not_killable(display_name, reason)
    return target


_WARNED: set[str] = set()


def warn_not_killable(name: str, reason: str) -> None:
    """Log, once per verifier name and process, that ``name`` runs inline and why."""
    if name in _WARNED:
        return
    _WARNED.add(name)
    logger.warning(
        "Verifier '%s' runs inline, in the training process, not in a worker process: %s. "
        "It cannot be killed there: a call stuck in C code (a regular expression, a huge "
        "integer power) would hang training despite its timeout_s. Define it at the top level "
        "of an importable module or file ('package.module:function', 'path/file.py:function') "
        "to make it killable, or set isolation='inline' in its VerifierSpec to accept this.",
        name,
        reason,
    )


def default_worker_count() -> int:
    """``RLVR_VERIFIER_WORKERS`` when set, else ``min(2, CPUs available to this process)``."""
    value = os.environ.get(WORKERS_ENV)
    if value:
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"{WORKERS_ENV} must be a whole number >= 1, got {value!r}.")
        return count
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(2, cpus or 1))


@dataclass
class _Task:
    """One chunk in flight on a worker."""

    task_id: int
    indices: list[int]  # positions in the caller's items
    sent: float  # time.monotonic() when it was sent
    deadline: float  # when to look at the worker's progress next


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: multiprocessing.connection.Connection
    progress: mmap.mmap
    born: float = field(default_factory=time.monotonic)
    ready: bool = False
    task: _Task | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_progress(self) -> tuple[int, int, float]:
        """(task id, item index or -1, since when); read until two reads agree, as the worker
        may be writing it."""
        previous = _PROGRESS.unpack_from(self.progress)
        for _ in range(3):
            current = _PROGRESS.unpack_from(self.progress)
            if current == previous:
                break
            previous = current
        return previous


@dataclass
class _Run:
    """The state of one `VerifierPool.run` call."""

    target: WorkerTarget
    kwargs: dict
    items: Sequence[tuple]
    timeout_s: float | None
    outcomes: list
    pending: deque
    unresolvable: str | None = None


# Workers are started from this one long-lived thread: PR_SET_PDEATHSIG fires when the *thread*
# that started the child exits, so a child started from a short-lived caller thread would be
# killed with it.
_LAUNCHER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verifier-pool-launcher")


class VerifierPool:
    """Worker processes that run verifiers under a per-completion deadline.

    Args:
        workers (`int`, *optional*):
            Number of worker processes; defaults to `default_worker_count`.
        preload (`Sequence[str]`, *optional*, defaults to `DEFAULT_PRELOAD`):
            Modules each worker imports before it takes work.
        startup_timeout_s (`float`, *optional*, defaults to `STARTUP_TIMEOUT_S`):
            Time a worker has to become ready, and to find a chunk's verifier.

    Workers start on the first `run`, not here. One `run` at a time: concurrent callers (other
    threads) wait for the pool.
    """

    def __init__(
        self,
        workers: int | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ):
        self.workers = workers or default_worker_count()
        if self.workers < 1:
            raise ValueError(f"A verifier pool needs at least one worker, got {workers!r}.")
        self.preload = list(preload)
        self.startup_timeout_s = startup_timeout_s
        self.owner_pid = os.getpid()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._task_ids = iter(range(1, 1 << 62))
        self._start_failures = 0
        self._closed = False

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (started or starting)."""
        return [worker.pid for worker in self._workers]

    def run(
        self,
        target: WorkerTarget,
        kwargs: dict,
        items: Sequence[tuple],
        timeout_s: float | None,
    ) -> list[Outcome]:
        """One outcome per item: the verifier called as ``verifier(*item, **kwargs)``.

        Args:
            target (`WorkerTarget`):
                The verifier (see `worker_target`).
            kwargs (`dict`):
                Its keyword arguments (`VerifierSpec.kwargs`).
            items (`Sequence[tuple]`):
                Positional arguments per call: ``(completion, example)``, or for a batched
                verifier the single item ``(completions, examples)``.
            timeout_s (`float`, *optional*):
                Limit per item, from the moment a worker starts it; `None` or 0: none.

        Returns:
            `list`: ``("ok", reward)`` (``("ok", [(reward, problem), ...])`` for a batched
            verifier) or ``(kind, exception_type, message)`` per item.

        Raises:
            WorkerUnavailable: the workers cannot find the verifier, or cannot be started.
        """
        if not items:
            return []
        with self._lock:
            if self._closed:
                raise PoolClosed("the verifier pool was shut down")
            self._top_up()
            size = max(1, math.ceil(len(items) / (2 * self.workers)))
            chunks = deque(list(range(start, min(start + size, len(items)))) for start in range(0, len(items), size))
            run = _Run(target, dict(kwargs), items, timeout_s or None, [None] * len(items), chunks)
            try:
                while run.pending or any(worker.task for worker in self._workers):
                    self._assign(run)
                    self._wait(run)
            except BaseException:
                # Interrupted (Ctrl-C, a broken pool): workers still busy would answer later.
                for worker in [w for w in self._workers if w.task is not None]:
                    self._retire(worker)
                raise
            if run.unresolvable is not None:
                raise WorkerUnavailable(run.unresolvable)
            self._top_up()  # replace workers killed in this run now: they start between calls
            return run.outcomes

    def start(self, wait: bool = True) -> None:
        """Start the workers now rather than on the first `run` (which starts any missing);
        with ``wait``, return once every worker is ready to take work.

        Raises:
            WorkerUnavailable: when workers cannot be started.
        """
        with self._lock:
            self._top_up()
            while wait and not all(worker.ready for worker in self._workers):
                starting = [worker for worker in self._workers if not worker.ready]
                timeout = min(w.born for w in starting) + self.startup_timeout_s - time.monotonic()
                readable = multiprocessing.connection.wait([w.conn for w in starting], max(0.0, timeout))
                now = time.monotonic()
                for worker in starting:
                    if worker.conn in readable:
                        self._receive(worker, None)
                    if worker in self._workers:
                        self._check_deadline(worker, None, now)
                self._top_up()

    def shutdown(self, grace_s: float = 1.0) -> None:
        """Stop the workers: idle ones are asked to exit, any still running after ``grace_s``
        seconds are killed. Safe to call more than once, and at interpreter exit."""
        acquired = self._lock.acquire(timeout=grace_s)
        try:
            self._closed = True
            workers, self._workers = self._workers, []
            for worker in workers:
                try:
                    worker.conn.send(("stop",))
                except (OSError, ValueError):
                    pass  # already gone
            deadline = time.monotonic() + grace_s
            for worker in workers:
                try:
                    worker.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill(worker)
                worker.conn.close()
                worker.progress.close()
        finally:
            if acquired:
                self._lock.release()

    # -- workers -------------------------------------------------------------------------------

    def _top_up(self) -> None:
        if self._closed:  # a run still in flight on another thread while the pool shuts down
            raise PoolClosed("the verifier pool was shut down")
        while len(self._workers) < self.workers:
            if self._start_failures >= MAX_START_FAILURES:
                raise WorkerUnavailable(
                    f"verifier worker processes failed to start {self._start_failures} times "
                    "in a row (see their error output above)"
                )
            self._workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        if not hasattr(os, "pipe") or os.name == "nt":
            raise WorkerUnavailable("worker processes need POSIX file-descriptor passing")
        parent_conn, child_conn = multiprocessing.Pipe()
        fd = child_conn.fileno()
        progress_fd = _shared_memory_fd(_PROGRESS.size)
        progress = mmap.mmap(progress_fd, _PROGRESS.size)
        command = [sys.executable, "-c", _BOOTSTRAP, str(fd), str(progress_fd), str(os.getpid())]
        try:
            launch = _LAUNCHER.submit(subprocess.Popen, command, pass_fds=(fd, progress_fd), stdin=subprocess.DEVNULL)
            process = launch.result()
        except (OSError, RuntimeError) as err:
            parent_conn.close()
            progress.close()
            if isinstance(err, RuntimeError):  # the launcher was shut down: the interpreter is exiting
                raise PoolClosed(f"cannot start a verifier worker at interpreter exit: {err}") from err
            raise WorkerUnavailable(f"cannot start a verifier worker: {err}") from err
        finally:
            child_conn.close()
            os.close(progress_fd)
        parent_conn.send((list(sys.path), self.preload))
        return _Worker(process, parent_conn, progress)

    def _retire(self, worker: _Worker) -> None:
        """Kill ``worker`` and drop it; `_top_up` starts its replacement."""
        _kill(worker)
        worker.conn.close()
        worker.progress.close()
        self._workers.remove(worker)

    # -- one run -------------------------------------------------------------------------------

    def _assign(self, run: _Run) -> None:
        self._top_up()
        for worker in self._workers:
            if not run.pending:
                return
            if not worker.ready or worker.task is not None:
                continue
            indices = run.pending.popleft()
            # First look at the worker when the first item could have overrun (or, for a slow
            # import while finding the verifier, the startup limit): see `_check_deadline`.
            first_look = min(run.timeout_s or math.inf, self.startup_timeout_s)
            now = time.monotonic()
            task = _Task(next(self._task_ids), indices, now, now + first_look)
            message = ("run", task.task_id, run.target, run.kwargs, [run.items[i] for i in indices])
            try:
                payload = _pickle(message)
            except Exception as err:  # noqa: BLE001 - a column value that cannot be pickled
                for index in indices:
                    run.outcomes[index] = ("raised", type(err).__name__, f"cannot send to a verifier worker: {err}")
                continue
            worker.task = task
            try:
                worker.conn.send_bytes(payload)
            except OSError:
                self._on_death(worker, run)

    def _wait(self, run: _Run) -> None:
        watched = [w for w in self._workers if w.task is not None or not w.ready]
        if not watched:
            return
        deadline = min(w.task.deadline if w.task is not None else w.born + self.startup_timeout_s for w in watched)
        timeout = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
        readable = multiprocessing.connection.wait([w.conn for w in watched], timeout)
        for worker in watched:
            if worker.conn in readable:
                self._receive(worker, run)
        now = time.monotonic()
        for worker in list(watched):
            if worker in self._workers:
                self._check_deadline(worker, run, now)

    def _receive(self, worker: _Worker, run: _Run | None) -> None:
        """Handle every message ``worker`` has sent so far."""
        while worker in self._workers and worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._on_death(worker, run)
                return
            kind, task = message[0], worker.task
            if kind == "ready":
                worker.ready = True
                self._start_failures = 0
            elif task is None or message[1] != task.task_id:
                continue  # cannot happen: a worker with a stale task is retired, not reused
            elif kind == "unresolvable":
                run.unresolvable = message[2]
                run.pending.clear()
                worker.task = None
            elif kind == "done":
                for index, outcome in zip(task.indices, message[2]):
                    run.outcomes[index] = outcome
                worker.task = None

    def _check_deadline(self, worker: _Worker, run: _Run | None, now: float) -> None:
        task = worker.task
        if task is None:
            if not worker.ready and now - worker.born > self.startup_timeout_s:
                logger.warning("verifier worker %d not ready after %g s: killed", worker.pid, self.startup_timeout_s)
                self._start_failures += 1
                self._retire(worker)
            return
        if now < task.deadline:
            return
        task_id, index, since = worker.read_progress()
        if task_id != task.task_id:  # not picked up yet
            index, since = -1, task.sent
        if index < 0:
            task.deadline = since + self.startup_timeout_s
            if now >= task.deadline:
                message = f"its worker did not find the verifier within {self.startup_timeout_s:g} s"
                self._fail_item(worker, run, 0, ("raised", "WorkerStartTimeout", message))
            return
        task.deadline = since + run.timeout_s if run.timeout_s else math.inf
        if now >= task.deadline and worker.conn.poll():
            self._receive(worker, run)  # the chunk's results came in just now
        elif now >= task.deadline:
            message = f"no result within {run.timeout_s:g} s (its worker process was killed)"
            self._fail_item(worker, run, index, ("timeout", "TimeoutError", message))

    def _on_death(self, worker: _Worker, run: _Run | None) -> None:
        try:
            code = worker.process.wait(5)
        except subprocess.TimeoutExpired:
            code = None
        if worker.task is None:
            if not worker.ready:
                self._start_failures += 1
            self._retire(worker)
            return
        task_id, index, _ = worker.read_progress()
        index = index if task_id == worker.task.task_id and index >= 0 else 0
        message = f"its worker process died ({_describe_exit(code)}) while scoring it"
        self._fail_item(worker, run, index, ("raised", "WorkerDied", message))

    def _fail_item(self, worker: _Worker, run: _Run, index: int, outcome: Outcome) -> None:
        """Item ``index`` of ``worker``'s chunk gets ``outcome``; the worker is killed and dropped;
        the chunk's other items (those it scored died with it) go back to the queue."""
        indices = worker.task.indices
        worker.task = None
        run.outcomes[indices[index]] = outcome
        rest = indices[:index] + indices[index + 1 :]
        if rest:
            run.pending.appendleft(rest)
        self._retire(worker)


def _pickle(message: Any) -> bytes:
    # What Connection.send does, split out so that an unpicklable column fails before any byte
    # is written.
    from multiprocessing.reduction import ForkingPickler

    return bytes(ForkingPickler.dumps(message))


def _shared_memory_fd(size: int) -> int:
    """A file descriptor of ``size`` zeroed bytes in memory, to map in two processes."""
    try:
        fd = os.memfd_create("rlvr-verifier-progress")
    except (AttributeError, OSError):  # not Linux: an unlinked temporary file
        fd, path = tempfile.mkstemp(prefix="rlvr-verifier-progress-")
        os.unlink(path)
    os.ftruncate(fd, size)
    return fd


def _kill(worker: _Worker) -> None:
    if worker.process.poll() is None:
        try:
            worker.process.kill()
        except ProcessLookupError:
            pass
    try:
        worker.process.wait(5)  # reap it: no zombie left behind
    except subprocess.TimeoutExpired:
        logger.warning("verifier worker %d did not exit after SIGKILL", worker.pid)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _absolute_file_spec(spec_name: str) -> str:
    """``path/file.py:function`` with the path made absolute as `get_verifier` resolves it (the
    worker must load the same file whatever its working directory)."""
    if ":" not in spec_name:
        return spec_name
    location, _, attribute = spec_name.rpartition(":")
    if not registry._looks_like_file(location):
        return spec_name
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    return f"{path.resolve()}:{attribute}"


# -- the process-wide pool ---------------------------------------------------------------------

_POOL: VerifierPool | None = None
_POOL_LOCK = threading.Lock()
_POOL_OPTIONS: dict = {}


def get_pool() -> VerifierPool:
    """This process's pool, created on first use (its workers start on its first `run`)."""
    global _POOL
    with _POOL_LOCK:
        if _EXITING:
            raise PoolClosed("the interpreter is exiting: no new verifier workers")
        if _POOL is None or _POOL.owner_pid != os.getpid():
            _POOL = VerifierPool(**_POOL_OPTIONS)
        return _POOL


def configure_pool(workers: int | None = None, preload: Sequence[str] | None = None) -> None:
    """Set the worker count and preloaded modules of this process's pool (shutting down the
    current one; the next call starts new workers). `None` keeps the default."""
    global _POOL
    options = {}
    if workers is not None:
        options["workers"] = workers
    if preload is not None:
        options["preload"] = tuple(preload)
    VerifierPool(**options)  # validate before replacing anything
    shutdown_pool()
    with _POOL_LOCK:
        _POOL_OPTIONS.clear()
        _POOL_OPTIONS.update(options)


def shutdown_pool() -> None:
    """Stop this process's pool; the next call starts a new one. Registered with ``atexit``."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.owner_pid == os.getpid():
        pool.shutdown()


# Set at interpreter exit: from then on no pool starts (a daemon thread still scoring must not
# start workers that would outlive the process).
_EXITING = False


def _shutdown_at_exit() -> None:
    global _EXITING
    _EXITING = True
    shutdown_pool()


atexit.register(_shutdown_at_exit)


def _forget_pool_after_fork() -> None:
    # A forked child (a DataLoader worker) must neither use nor stop its parent's workers. Its
    # copies of their pipes are closed so that the workers still see EOF when the parent goes.
    global _POOL, _LAUNCHER, _POOL_LOCK
    _POOL_LOCK = threading.Lock()
    if _POOL is not None:
        for worker in _POOL._workers:
            worker.conn.close()
        _POOL = None
    # The launcher's thread does not exist in the child.
    _LAUNCHER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verifier-pool-launcher")


os.register_at_fork(after_in_child=_forget_pool_after_fork)


# -- the worker side ---------------------------------------------------------------------------


def _worker_main(conn, progress_fd: int, parent_pid: int, preload: Sequence[str]) -> None:
    """A worker's loop: run chunks until the parent says stop or its pipe closes."""
    _die_with_parent(parent_pid)
    progress = mmap.mmap(progress_fd, _PROGRESS.size)
    os.close(progress_fd)
    for module in preload:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # not installed: the verifier that needs it will say so when called
    conn.send(("ready", os.getpid()))
    found: dict[WorkerTarget, Callable] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "run":
            return
        _, task_id, target, kwargs, items = message
        _PROGRESS.pack_into(progress, 0, task_id, -1, time.monotonic())
        if target not in found:
            try:
                found[target] = _find(target)
            except Exception as err:  # noqa: BLE001 - reported to the parent, which runs it inline
                problem = f"a worker process cannot find it ({type(err).__name__}: {err})"
                conn.send(("unresolvable", task_id, problem))
                continue
        outcomes = []
        for index, args in enumerate(items):
            _PROGRESS.pack_into(progress, 0, task_id, index, time.monotonic())
            outcomes.append(_call(found[target], target.batched, args, kwargs))
        conn.send(("done", task_id, outcomes))


def _find(target: WorkerTarget) -> Callable:
    if target.module_file is not None:
        registry._load_file(target.module_file, target.spec)
    if target.module is not None:
        importlib.import_module(target.module)
    try:
        func = registry.get_verifier(target.spec)
    except (KeyError, ImportError):
        func = None
    if func is not None and (target.qualname is None or getattr(func, "__qualname__", None) == target.qualname):
        return func
    if target.pickled is not None:
        return pickle.loads(target.pickled)
    raise LookupError(f"'{target.spec}' is not registered in the worker and cannot be unpickled")


def _call(func: Callable, batched: bool, args: tuple, kwargs: dict) -> Outcome:
    try:
        value = call_sync(func, *args, **kwargs)
    except BaseException as err:  # noqa: BLE001 - a verifier's failure is its outcome
        try:
            message = str(err)
        except Exception:  # noqa: BLE001 - an exception whose __str__ fails
            message = repr(type(err))
        return ("raised", type(err).__name__, message)
    if batched:
        return classify_batch(value, len(args[0]))
    reward, problem = as_reward(value)
    return ("ok", reward) if problem is None else ("bad_return", "TypeError", problem)


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux), even while it is
    stuck in C code; exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        try:
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # left to the pipe: the worker exits when it reads EOF
    if os.getppid() != parent_pid:
        os._exit(0)
