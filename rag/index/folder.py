"""The index folder's life: a build is written beside it and swapped in by two renames.

A build that fails or is killed leaves the previous index whole; a swap cut between its two
renames is finished by the next reader (`recover`). Builds and changes hold the folder's write
lock, a file beside it: one writer at a time, across processes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from rag.errors import IndexBusyError, IndexCorruptError
from rag.index.manifest import MANIFEST


def backup_of(index_dir: Path) -> Path:
    return index_dir.with_name(f".{index_dir.name}.previous")


def recover(index_dir: Path) -> None:
    """Finish a swap that was cut between its two renames."""
    backup = backup_of(index_dir)
    if not index_dir.exists() and (backup / MANIFEST).exists():
        os.rename(backup, index_dir)


def new_build_folder(index_dir: Path) -> Path:
    """An empty sibling folder for a build by this process, named so that a later build can
    tell whether its process still runs."""
    building = index_dir.with_name(f".{index_dir.name}.build-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    building.mkdir()
    return building


def clear_stale_builds(index_dir: Path) -> None:
    for stale in index_dir.parent.glob(f".{index_dir.name}.build-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            pass


def swap_into_place(built: Path, index_dir: Path) -> None:
    backup = backup_of(index_dir)
    shutil.rmtree(backup, ignore_errors=True)
    if index_dir.exists():
        os.rename(index_dir, backup)
    os.rename(built, index_dir)
    shutil.rmtree(backup, ignore_errors=True)


def check_target(index_dir: Path) -> None:
    """Refuse to replace a folder that holds something other than an index."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexCorruptError(f"{index_dir} is a file, not an index folder; pass another --index")
    if index_dir.is_dir() and any(index_dir.iterdir()) and not (index_dir / MANIFEST).exists():
        raise IndexCorruptError(
            f"{index_dir} is a folder with files but no {MANIFEST}; it is not an index, and "
            "building would replace its contents. Pass an empty or new --index folder"
        )


def lock_path(index_dir: Path) -> Path:
    """The lock file of an index folder: beside it, so that a rebuild's swap keeps it."""
    index_dir = index_dir.absolute()
    return index_dir.with_name(f".{index_dir.name}.lock")


@contextmanager
def write_lock(index_dir: Path, timeout: float) -> Iterator[None]:
    """Hold the index's write lock; IndexBusyError after `timeout` seconds of waiting. The
    operating system releases it when the holder dies, whatever kills it."""
    index_dir.absolute().parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_path(index_dir), timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise IndexBusyError(
            f"another process has been changing the index at {index_dir} for over "
            f"{timeout:g} s; try again when it is done"
        ) from None
    try:
        yield
    finally:
        lock.release()
