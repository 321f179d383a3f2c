"""PID 1 of a sandbox: sets up the filesystem, then runs the untrusted program and reports.

Not imported by `rewards`: `rewards.sandbox` runs this file as a script, as root, inside fresh
mount, network, IPC and PID namespaces made by ``unshare``::

    unshare --mount --net --ipc --pid --fork --kill-child --mount-proc -- \
        python -I -S -B _sandbox_init.py scratch=/tmp/rlvr-sandbox-x uid=65534 ...

It uses the standard library only (``-I -S`` leave nothing else importable), and only its cheap
modules: it runs once per sandboxed program, so its start-up time is the sandbox's overhead
(importing ``json`` alone would add half of a bare interpreter's start-up). Hence the plain
``key=value`` arguments and plain-text status lines. Steps:

1. Copy the files the parent wrote into the scratch directory into memory, mount a size-capped
   tmpfs over the scratch directory and write them back, owned by the sandbox user. The program
   then writes to RAM that disappears with the namespace, never to the host's disk.
2. If the interpreter lives under a directory the sandbox user cannot enter (pyenv under
   ``/root``, mode 0700), cover that directory with an empty tmpfs and bind-mount only the
   interpreter's installation back in: the program can run Python, but sees nothing else there.
3. Remount every other mount read-only (bind remounts: they change this namespace's view only,
   never the host's).
4. Report "ready" on the status pipe; fork; in the child drop to the unprivileged uid/gid, set
   no_new_privs and the resource limits, and exec the program with a minimal environment.
5. Stay alive as PID 1 (root, unreachable by the sandbox user's signals) reaping orphans until
   the program exits, then report its exit status and exit. When PID 1 exits the kernel kills
   every process left in the PID namespace, so forked children and daemons cannot outlive it.

The status pipe carries ``ready``, then ``returncode <n>``; every failure before the exec is
written to it as ``setup_error <message>`` so that the parent raises instead of mistaking a
broken sandbox for a failing program.
"""

import ctypes
import os
import resource
import stat
import sys

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_RELATIME = 0x200000
# Per-mount flags a read-only bind remount must repeat, or it would silently clear them
# (statvfs's ST_* flag values are the same bits as the MS_* mount flags).
PRESERVED_MOUNT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME

PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)


def mount(source, target, fstype, flags, data=None):
    def encode(text):
        return None if text is None else os.fsencode(text)

    if libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount({source!r} -> {target!r}): {os.strerror(errno)}")


def mount_points():
    """Mount points of this namespace, in mountinfo order (parents before children)."""
    points = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
            raw = line.split()[4]
            point = raw.encode().decode("unicode_escape").encode("latin-1").decode()
            if point not in points:
                points.append(point)
    return points


def copy_into_tmpfs(scratch, size_bytes, max_files, uid, gid):
    files = {}
    for name in os.listdir(scratch):
        with open(os.path.join(scratch, name), "rb") as handle:
            files[name] = handle.read()
    options = f"size={size_bytes},nr_inodes={max_files},mode=0700,uid={uid},gid={gid}"
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for name, content in files.items():
        path = os.path.join(scratch, name)
        with open(path, "wb") as handle:
            handle.write(content)
        os.chown(path, uid, gid)


def blocked_ancestor(path):
    """The highest ancestor of ``path`` that "others" cannot enter, or None."""
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        ancestor = "/" + "/".join(parts[:depth])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None


def expose(paths):
    """Make each of ``paths`` reachable by an unprivileged user, hiding its blocked ancestor."""
    handles = []
    for path in paths:
        ancestor = blocked_ancestor(path)
        if ancestor is not None and ancestor != path:
            # O_PATH keeps a handle on the real directory after the tmpfs hides it.
            handles.append((ancestor, path, os.open(path, os.O_PATH | os.O_DIRECTORY)))
    covered = set()
    for ancestor, path, handle in handles:
        if ancestor not in covered:
            mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            covered.add(ancestor)
        os.makedirs(path, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        os.close(handle)


def make_read_only(except_path):
    for point in mount_points():
        if point == except_path:
            continue
        try:
            flags = os.statvfs(point).f_flag
        except OSError:
            continue  # hidden under a later mount: unreachable anyway
        if flags & MS_RDONLY:
            continue
        mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | (flags & PRESERVED_MOUNT_FLAGS))


# Integer settings (the rest are strings); ``expose`` may be given several times.
INTEGER_KEYS = {
    "uid",
    "gid",
    "status_fd",
    "cpu_time_s",
    "memory_bytes",
    "max_processes",
    "max_file_bytes",
    "max_open_files",
    "scratch_bytes",
    "scratch_files",
}


def parse_arguments(arguments):
    config = {"expose": [], "stdin_file": None}
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "expose":
            config["expose"].append(value)
        else:
            config[key] = int(value) if key in INTEGER_KEYS else value
    return config


def report(status, line):
    status.write(line.replace("\n", " ") + "\n")
    status.flush()


def start_program(config, status):
    """Fork; the child becomes the program. Returns the child's pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        os.setgroups([])
        os.setresgid(config["gid"], config["gid"], config["gid"])
        os.setresuid(config["uid"], config["uid"], config["uid"])
        for name, value in (
            ("RLIMIT_CPU", config["cpu_time_s"]),
            ("RLIMIT_AS", config["memory_bytes"]),
            ("RLIMIT_NPROC", config["max_processes"]),
            ("RLIMIT_FSIZE", config["max_file_bytes"]),
            ("RLIMIT_NOFILE", config["max_open_files"]),
            ("RLIMIT_CORE", 0),
        ):
            # Soft CPU limit sends SIGXCPU; the hard one, a second later, SIGKILL.
            hard = value + 1 if name == "RLIMIT_CPU" else value
            resource.setrlimit(getattr(resource, name), (value, hard))
        os.chdir(config["scratch"])
        os.umask(0o077)
        stdin_path = config["stdin_file"] or os.devnull
        stdin = os.open(stdin_path, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.close(stdin)
        python, scratch = config["python"], config["scratch"]
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": scratch,
            "TMPDIR": scratch,
        }
        # The status pipe is close-on-exec: the program cannot write to it.
        os.execve(python, [python, "-I", "-S", "-B", config["program"]], environment)
    except BaseException as err:  # noqa: BLE001 - anything here means no sandboxed program ran
        report(status, f"setup_error starting the program: {err!r}")
    os._exit(126)


def wait_for(pid):
    """Reap children (orphans are re-parented to PID 1) until ``pid`` exits; its return code."""
    while True:
        waited, wait_status = os.waitpid(-1, 0)
        if waited == pid:
            return os.waitstatus_to_exitcode(wait_status)


def main():
    config = parse_arguments(sys.argv[1:])
    status = os.fdopen(config["status_fd"], "w")
    os.set_inheritable(status.fileno(), False)
    try:
        copy_into_tmpfs(
            config["scratch"],
            config["scratch_bytes"],
            config["scratch_files"],
            config["uid"],
            config["gid"],
        )
        expose(config["expose"])
        make_read_only(except_path=config["scratch"])
    except BaseException as err:  # noqa: BLE001 - reported, then the parent raises
        report(status, f"setup_error {type(err).__name__}: {err}")
        sys.exit(125)
    report(status, "ready")
    pid = start_program(config, status)
    report(status, f"returncode {wait_for(pid)}")
    # Skip interpreter shutdown: nothing is left to clean up, and the parent is waiting.
    os._exit(0)


if __name__ == "__main__":
    main()
