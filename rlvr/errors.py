"""What a user error is, and how every `rlvr` command reports one.

A user error is a mistake in what the user gave: a config key or value (`rlvr.config.ConfigError`),
a data file or row (`rlvr.data.DataError`), a verifier spec (`rewards.UnknownVerifierError`), a
command-line value, a path that does not exist. All derive from `rewards.base.UserInputError`
(the lowest layer, so every package can raise one). A command reports one as a single message on
stderr and exits with status 2, like argparse does for a bad flag; ``--debug`` shows the
traceback instead. Every other exception is a bug in rlvr or a library and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from rewards.base import UserInputError

# FileNotFoundError: the paths a command opens are the user's (a run directory, a results file).
USER_ERRORS: tuple[type[BaseException], ...] = (UserInputError, FileNotFoundError)
EXIT_USER_ERROR = 2
DEBUG_HELP = "On a config, data or usage error, show its traceback too (the exit status stays 2)."


def report_user_error(prog: str, err: BaseException) -> int:
    """Print ``prog: error: message`` on stderr and return the exit status, 2."""
    message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    if isinstance(err, FileNotFoundError) and err.filename and not message.strip().endswith(str(err.filename)):
        message = f"{err.strerror or message}: '{err.filename}'"
    rank = int(os.environ.get("RANK", "0") or 0)
    if rank != 0:
        # Under `accelerate launch` every process may hit the same error; the tag tells the copies
        # apart (an error only one process hit must still be reported, so none stays silent).
        prog = f"{prog} [rank {rank}]"
    # One write: under `accelerate launch` the ranks share stderr, and print() writes the text and
    # its newline separately, so two ranks' lines could interleave.
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.stderr.flush()
    return EXIT_USER_ERROR


def run_command(prog: str, func: Callable[[], int | None], debug: bool = False) -> int:
    """``func()``'s exit status (0 when it returns None), or 2 after `report_user_error` when it
    raises a user error (with ``debug``, after its traceback: the status stays 2)."""
    try:
        status = func()
    except USER_ERRORS as err:
        if debug:
            traceback.print_exc()
        return report_user_error(prog, err)
    return 0 if status is None else int(status)
