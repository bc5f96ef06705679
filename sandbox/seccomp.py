"""The seccomp filter every learner process runs under, built with libseccomp.

The server builds the filter once (``pyseccomp`` over the system's libseccomp) and hands the
compiled BPF program to the sandbox child, which loads it as the last confinement step; the
child itself stays standard-library only.

A deny-list on top of the other layers: calls a pattern program never needs and that widen the
kernel's attack surface or undo confinement fail with EPERM. Namespaces, mounts, tracing,
keyrings, BPF, perf, io_uring, kernel modules and clocks; sockets of any family but AF_UNIX
(there is no network, and the root holds no socket to reach); clone() with namespace flags.
clone3() answers ENOSYS, as container runtimes do, so libc falls back to clone(), whose flags
the filter can read.
"""

from __future__ import annotations

import errno
import logging
import tempfile

log = logging.getLogger(__name__)

DENIED = (
    # tracing and reading other processes' memory
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    # namespaces, mounts and roots
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount",
    "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    # kernel interfaces with a history of privilege escalations
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "iopl", "ioperm", "vhangup",
    # file handles bypass path-based confinement
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
)
AF_UNIX = 1
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)


def learner_filter() -> bytes | None:
    """The compiled filter for this machine's architecture, or None when libseccomp is missing
    (the sandbox then reports the layer as absent)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 not installed
        log.warning("seccomp unavailable: %s", exc)
        return None
    deny = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        try:
            flt.add_rule(deny, name)
        except (ValueError, RuntimeError):  # a call this architecture does not have
            continue
    flt.add_rule(deny, "socket", sc.Arg(0, sc.NE, AF_UNIX))
    for flag in NAMESPACE_FLAGS:
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.seek(0)
        return out.read()
