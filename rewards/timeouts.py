"""Run a function with a wall-clock time limit, interrupting it when it overruns.

`call_with_timeout(func, timeout_s)` returns ``func()`` or raises `VerifierTimeout`.

The TRL adapter uses it for verifiers that run inline, in the training process
(``VerifierSpec.isolation="inline"``, the default of the cheap built-ins). Verifiers that can get
stuck in C code (``math``, user verifiers) run by default in worker processes that are killed
at their deadline instead (`rewards.isolation`), which has none of the limitations below.

In the main thread (where TRL calls synchronous reward functions) the overrunning call is
interrupted: a watchdog thread sends the main thread a dedicated real-time signal at the
deadline, and the signal handler raises `VerifierTimeout` inside the running code. This stops
pure-Python hangs (``while True: pass``) and blocking calls (``time.sleep``).

Why not ``signal.alarm``/``setitimer(ITIMER_REAL)``: a process has a single real-time alarm, and
math-verify (among others) arms its own with ``signal.alarm(n)`` and cancels it with
``signal.alarm(0)``. A deadline kept in that alarm would be silently replaced, then cancelled,
by any verifier that calls math-verify. The watchdog's signal leaves SIGALRM and its timer to
whoever else uses them, so nested alarms keep working on both sides.

`VerifierTimeout` derives from `BaseException`, like `KeyboardInterrupt`, so that the verifier's
own ``except Exception:`` blocks (math-verify has several) do not swallow it.

Limitations:

- Code running inside a C extension is interrupted only when it returns to the interpreter
  (a catastrophic regular expression in ``re``, or a huge integer power in sympy, runs to
  completion: hours). Use ``isolation="process"`` for a verifier that may do that.
- Code that catches `BaseException` and carries on defeats the interrupt (it is sent once).
- Outside the main thread (signal handlers only run there) the call runs in a helper thread
  and the caller stops waiting at the deadline, but the helper thread cannot be killed: it runs
  on in the background until the function returns by itself.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# A real-time signal: none of Python, PyTorch or math-verify uses these, unlike SIGALRM/SIGUSR*.
# Platforms without real-time signals (macOS) or pthread_kill (Windows) use the thread fallback.
INTERRUPT_SIGNAL: int | None = (
    signal.SIGRTMIN + 6 if hasattr(signal, "SIGRTMIN") and hasattr(signal, "pthread_kill") else None
)


class VerifierTimeout(BaseException):
    """Raised inside (or instead of) a call that ran past its time limit."""


def call_with_timeout(func: Callable[[], T], timeout_s: float | None) -> T:
    """Return ``func()``, or raise `VerifierTimeout` once ``timeout_s`` seconds have passed.

    Args:
        func (`Callable[[], T]`):
            What to run, without arguments (use `functools.partial` or a lambda).
        timeout_s (`float` or `None`):
            Wall-clock limit in seconds; `None` or a value <= 0 runs ``func`` without one.

    Returns:
        Whatever ``func`` returns. Exceptions from ``func`` propagate unchanged.
    """
    if timeout_s is None or timeout_s <= 0:
        return func()
    if _WATCHDOG.can_interrupt():
        return _WATCHDOG.call(func, timeout_s)
    return _call_in_thread(func, timeout_s)


def _call_in_thread(func: Callable[[], T], timeout_s: float) -> T:
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = func()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = err

    # Daemon: a hung call must not keep the process alive at exit.
    thread = threading.Thread(target=target, name="verifier-call", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise VerifierTimeout(f"exceeded {timeout_s:g} s (still running in a background thread)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class _MainThreadWatchdog:
    """Interrupts the main thread with `INTERRUPT_SIGNAL` when an armed deadline passes.

    One daemon thread per process sleeps until the earliest armed deadline. Arming a later
    deadline than the one the thread already sleeps towards does not wake it, so a steady stream
    of short calls costs a lock round-trip each, not a thread switch.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._deadline: float | None = None  # monotonic time; None while nothing is armed
        self._wakes_at: float | None = None  # when the thread next wakes; None: only if notified
        self._fired = False  # the signal was sent for the current call and not yet handled
        self._in_call = False
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._handler_state: str | None = None  # None: not installed yet; "ours" or "refused"

    def can_interrupt(self) -> bool:
        if threading.current_thread() is not threading.main_thread() or self._in_call:
            return False  # nested calls use the thread fallback: the watchdog holds one deadline
        if INTERRUPT_SIGNAL is None:
            return False
        if self._handler_state is None:
            self._install_handler()
        return self._handler_state == "ours"

    def call(self, func: Callable[[], T], timeout_s: float) -> T:
        self._in_call = True
        try:
            self._arm(timeout_s)
            try:
                return func()
            finally:
                self._disarm()
        finally:
            self._in_call = False

    def _install_handler(self) -> None:
        current = signal.getsignal(INTERRUPT_SIGNAL)
        if current not in (signal.SIG_DFL, None, _on_interrupt_signal):
            # Someone else uses this signal: leave it to them and time out with threads.
            self._handler_state = "refused"
            return
        # Installed once and left in place: restoring the default action (terminate the
        # process) after each call would turn a signal still in flight into a crash.
        signal.signal(INTERRUPT_SIGNAL, _on_interrupt_signal)
        self._handler_state = "ours"

    def on_signal(self) -> None:
        # Runs in the main thread between bytecodes; must not take the lock (the main thread
        # may be holding it in _arm/_disarm). A signal arriving after _disarm finds _fired
        # cleared and does nothing.
        if self._fired:
            self._fired = False
            raise VerifierTimeout("exceeded its time limit (interrupted)")

    def _arm(self, timeout_s: float) -> None:
        with self._condition:
            self._ensure_thread()
            self._deadline = time.monotonic() + timeout_s
            self._fired = False
            if self._wakes_at is None or self._deadline < self._wakes_at:
                self._condition.notify()

    def _disarm(self) -> None:
        with self._condition:
            self._deadline = None
            self._fired = False

    def _ensure_thread(self) -> None:
        # After os.fork() the child has no watchdog thread: start a new one.
        if self._thread is not None and self._thread_pid == os.getpid():
            return
        self._thread = threading.Thread(target=self._watch, name="verifier-watchdog", daemon=True)
        self._thread_pid = os.getpid()
        self._thread.start()

    def _watch(self) -> None:
        main_thread_id = threading.main_thread().ident
        with self._condition:
            while True:
                if self._deadline is None:
                    self._wakes_at = None
                    self._condition.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._wakes_at = self._deadline
                    self._condition.wait(remaining)
                    continue
                # Deadline passed while armed: interrupt once, under the lock so that _disarm
                # cannot run in between and leave a stray signal for the next call.
                self._deadline = None
                self._fired = True
                signal.pthread_kill(main_thread_id, INTERRUPT_SIGNAL)


_WATCHDOG = _MainThreadWatchdog()


def _on_interrupt_signal(signum, frame) -> None:
    _WATCHDOG.on_signal()


def _reset_after_fork() -> None:
    # The lock may have been held by the (now absent) watchdog thread at fork time.
    global _WATCHDOG
    _WATCHDOG = _MainThreadWatchdog()


os.register_at_fork(after_in_child=_reset_after_fork)
