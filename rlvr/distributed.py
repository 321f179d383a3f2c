"""Ending a multi-process (gloo) run without the teardown race.

The race (torch 2.13, gloo): a synchronous collective returns to Python as soon as it completes,
while the gloo worker thread that ran it still holds the work object. The worker drops it an
instant later, and dropping it releases tensors that Python owns, which takes the GIL. If the
main thread reaches the end of the interpreter before the worker got the GIL (a loaded machine:
the worker is runnable but not scheduled), one of two things happens:

- the worker asks for the GIL while the interpreter finalizes, and CPython ends the thread
  under the C++ destructor it is in: ``terminate called without an active exception``, SIGABRT,
  exit code -6 (seen in tests/rlvr/test_influence_check.py; 3 of 60 runs of a bare 2-process
  gloo script under load);
- or finalization destroys the process group while holding the GIL and waits to join that very
  worker, which waits for the GIL: a hang (seen once after ``destroy_process_group()``, since the
  trainer's DDP model still holds the group, so it is destroyed only at finalization).

``destroy_process_group()`` alone does not close the window (under load, 2 of 4 runs of that test
hung with it). `finish_distributed_process` does: after a barrier, it runs the ``atexit``
handlers, flushes, and ends the process with ``os._exit``, skipping the finalization in which
the race happens. Call it last, in a script
that ran a multi-process job to its end (never after an error: a peer may still be inside a
collective).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys


def finish_distributed_process(state=None, exit_code: int = 0) -> None:
    """End this process of a finished multi-process run (returns at once in a single process).

    Args:
        state: accelerate's ``PartialState`` (one is made if ``None``).
        exit_code: The process's exit status.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if state is None:
        from accelerate import PartialState

        state = PartialState()
    state.wait_for_everyone()  # every process is done with the group: none is left mid-collective
    # No destroy_process_group(): where it drops the group's last reference (no DDP model holds
    # it), the destructor joins the gloo workers with the GIL held, the same deadlock; os._exit
    # ends the workers with the process instead.
    atexit._run_exitfuncs()  # what a normal exit would run (logging.shutdown, trackers, ...)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more to write
            pass
    os._exit(exit_code)
