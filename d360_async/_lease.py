"""One run at a time on a journal file: an exclusive OS lock on a sidecar ``<journal>.lock``.

The lock is the operating system's (``flock`` on POSIX, ``msvcrt.locking`` on Windows), not a
row in the journal: it ends with the process however it ends (a kill included), so a crashed
run never leaves a journal locked. The sidecar file is removed when the lease ends normally; a
file left by a killed run is simply locked again by the next one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

__all__ = ["Lease", "LeaseTaken"]


class LeaseTaken(Exception):
    """Another process (or another open journal of this one) holds the lease."""


class Lease:
    """The exclusive lease on ``path`` (a journal file), held from ``take`` to ``release``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     lease = Lease.take(Path(folder, "spring.sqlite"))
        ...     try:
        ...         Lease.take(Path(folder, "spring.sqlite"))
        ...     except LeaseTaken:
        ...         print("in use")
        ...     lease.release()
        ...     Lease.take(Path(folder, "spring.sqlite")).release()
        in use
    """

    __slots__ = ("_fd", "path")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def take(cls, journal: Path) -> Lease:
        """Lock ``<journal>.lock`` (created if missing) without waiting.

        Raises:
            LeaseTaken: It is locked.
            OSError: The lock file cannot be created or opened.
        """
        path = journal.with_name(journal.name + ".lock")
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                _lock(fd)
            except OSError as exc:
                os.close(fd)
                raise LeaseTaken(str(path)) from exc
            # The file may have been removed (a lease ending) between our open and our lock:
            # then the lock is on a file nobody else will find; lock the one at ``path``.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                return cls(path, fd)
            os.close(fd)

    def release(self) -> None:
        """Remove the lock file and unlock it (safe to call twice)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform != "win32":  # removed while locked: no one can lock a stale file
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(fd)  # the lock ends with its descriptor
        if sys.platform == "win32":
            with contextlib.suppress(OSError):
                os.unlink(self.path)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
