"""Writing a run's files safely: nothing a user owns is moved or lost.

Files
    Every file is written to a temporary name in its destination folder and renamed into place
    (:func:`atomic_write`), so a reader never sees half a file.

Whose folder
    An output folder is the tool's, or it is refused (:func:`check_output_folder`, called before
    any work and again just before publishing). A run writes only into a folder that is new,
    empty, or holds an earlier run of this tool: one with a manifest (``.siting-manifest.json``)
    that lists every file the tool wrote there, and no other file (``history/``, the tool's
    archive, aside). It refuses ``/``, the home folder, the working folder and any folder above
    them, any folder that holds the scenario or an input file, an existing file, a symbolic
    link, a name longer than the file system allows, a folder it cannot write in, and a folder
    holding anything the tool did not write. Refusals raise :class:`OutputError` (exit code 5,
    "cannot write outputs"), whose message names the folder and the reason.

Publishing: one run at every instant
    A run is built in a hidden staging folder beside the output folder
    (``.<name>.staging-<host>-<pid>-<random>``) and becomes visible in **one rename**: the
    staging folder and the output folder are exchanged atomically (``renameat2`` with
    ``RENAME_EXCHANGE``, Linux 3.15+), so ``<out>`` holds the earlier complete run up to that
    instant and the new complete run from it on; ``<out>`` stays a real folder (no symbolic
    link). The earlier run, now in the staging folder's place, is then kept whole: its own
    ``history/`` is renamed into the new run's folder, and the earlier run itself into
    ``<out>/history/<its creation time, UTC>/``. Where the exchange is not available (another OS,
    a file system without it) the earlier run is first renamed aside to
    ``.<name>.old-<host>-<pid>-<random>`` and the staging folder renamed to ``<out>``; a kill
    between those two renames leaves no ``<out>`` for an instant, and the next run (or any
    run's :func:`recover`) renames the earlier run back first.

    The new run's manifest names the run it replaced (``previous``), so the folders a killed
    publisher leaves behind can be told apart: one whose run is the new run's ``previous`` is
    the displaced earlier run and is archived into ``history/``; one whose run never appeared
    is an unpublished staging folder and is removed. Either way the recovery runs (under the
    lock) at the start of the next publication into that folder, and only for folders of this
    host whose process is gone.

Two runs on one folder
    Publishing (recovery, the last check, the exchange and the archiving) holds an exclusive
    ``flock`` on ``.<name>.lock`` beside the folder; a second run waits for it (up to
    ``timeout_s``, then :class:`OutputError`). Each run is staged in its own folder, so two
    runs at once never mix: the later one to publish wins and the other is kept whole in
    ``history/``. The lock file is removed when released. The folder is checked again under
    the lock just before the exchange; a file someone drops into it in the instant between
    is moved into ``history/`` with the earlier run, never deleted.

Sweeps
    A sweep folder (``kind="sweep"``) is not replaced whole: it collects one run folder per
    scenario (each published as above, and reused by a rerun) and the sweep's own files,
    which its manifest lists and which are replaced one by one (each atomically). It is
    checked like a run's folder before any work, and a sweep holds its lock for its whole
    duration, so a second sweep into the same folder is refused at once.

Interrupts and errors
    Ctrl-C or an error while the run is being built removes the staging folder and leaves the
    earlier run as it was. A failure writing the outputs (a full disk, no permission) is an
    :class:`OutputError` naming the folder.

Test hook
    With ``SITING_TEST_KILL_AT=<step>`` in the environment the process kills itself (SIGKILL)
    at that publishing step (:data:`PUBLISH_STEPS`); ``SITING_TEST_NO_EXCHANGE=1`` forces the
    two-rename fallback.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import OutputError, describe_os_error

log = logging.getLogger(__name__)

MANIFEST_NAME = ".siting-manifest.json"
HISTORY_DIR = "history"
KILL_HOOK_ENV = "SITING_TEST_KILL_AT"
NO_EXCHANGE_ENV = "SITING_TEST_NO_EXCHANGE"
LOCK_TIMEOUT_S = 120.0  # publishing is a few renames: a long wait means a stuck run
PUBLISH_STEPS = ("locked", "staged", "aside", "swapped", "history-moved", "archived")
"""Publishing steps, in order, at which :data:`KILL_HOOK_ENV` can kill the process (``aside``
only on the two-rename fallback)."""

RUN_KIND, SWEEP_KIND = "run", "sweep"
_NAME_MAX_FALLBACK = 255
_SHORT_NAME = 64  # staging and lock names embed at most this many bytes of the folder's name
# the tool's own temporary names inside a sweep folder: files being written, its scenario
# folders' locks and staging folders, the sweep report's staging folder
_TOOL_TEMP = re.compile(r"^\..+\.(tmp|lock)$|^\..+\.(staging|old)-.+$|^\.sweep-staging-")
_RENAME_EXCHANGE = 2  # linux/fs.h


# --------------------------------------------------------------------------- single files


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` to ``path`` (same folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file private (0600); outputs are ordinary files (0666 less umask)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask is process-wide, not thread-safe


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    """Write a DataFrame as UTF-8 CSV (with BOM, so Excel shows Chinese names), atomically."""
    return atomic_write(path, lambda p: df.to_csv(p, index=False, encoding="utf-8-sig"))


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON (NaN/inf as null, numpy scalars as numbers), atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)
    return atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy/pandas values; non-finite floats become None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray, pd.Series)):
        return [to_jsonable(v) for v in list(obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or obj is pd.NA:
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj if isinstance(obj, str) else str(obj)


# --------------------------------------------------------------------------- manifests


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a folder the tool wrote, or None (none, unreadable, not the tool's)."""
    try:
        data = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "siting":
        return None
    if not isinstance(data.get("files"), list):
        return None
    return data


def write_manifest(
    folder: Path,
    kind: str = RUN_KIND,
    files: Iterable[str] | None = None,
    previous: str | None = None,
) -> dict[str, Any]:
    """Write ``folder``'s manifest: every file under it (or ``files``), a new run id, the
    run it replaces. Returns the manifest."""
    folder = Path(folder)
    listed = sorted(files) if files is not None else _files_under(folder)
    manifest = {
        "tool": "siting",
        "kind": kind,
        "run_id": uuid.uuid4().hex,
        "created": datetime.now(UTC).isoformat(timespec="microseconds"),
        "previous": previous,
        "files": [f for f in listed if f != MANIFEST_NAME],
    }
    write_json(folder / MANIFEST_NAME, manifest)
    return manifest


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- the folder check


def check_output_folder(
    out_dir: str | Path, protected: Iterable[str | Path] = (), kind: str = RUN_KIND
) -> Path:
    """Refuse an output folder the tool must not write into; return its absolute path.

    Parameters
    ----------
    out_dir : path
        The output folder asked for.
    protected : paths
        The scenario and input files of the run: a folder holding one of them is refused.
    kind : {"run", "sweep"}
        A run's folder is replaced whole when published; a sweep's folder collects scenario
        run folders and the sweep's own files.

    Raises
    ------
    OutputError
        Naming the folder and why it is refused.
    """
    target = _absolute(Path(out_dir))
    _refuse_special(target)
    _refuse_holders_of(target, protected)
    _refuse_bad_name(target)
    if target.is_symlink():
        raise OutputError(f"output folder {target}: is a symbolic link; name a real folder")
    if target.exists() and not target.is_dir():
        raise OutputError(f"output folder {target}: is a file, not a folder")
    _refuse_unwritable(target)
    if target.is_dir():
        _refuse_foreign(target, kind)
    return target


def _absolute(path: Path) -> Path:
    """The folder's absolute path: ``..`` taken lexically, the parent's links resolved, the
    last component kept (a link there is refused, not followed)."""
    text = os.path.abspath(os.path.expanduser(str(path)))
    absolute = Path(text)
    if absolute.parent == absolute:
        return absolute
    return absolute.parent.resolve() / absolute.name


def _refuse_special(target: Path) -> None:
    if target.parent == target:
        raise OutputError(f"output folder {target}: is the root of the file system")
    home = Path.home().resolve()
    cwd = Path.cwd().resolve()
    if target == home:
        raise OutputError(f"output folder {target}: is your home folder")
    if target in home.parents:
        raise OutputError(f"output folder {target}: holds your home folder {home}")
    if target == cwd:
        raise OutputError(
            f"output folder {target}: is the working folder; a run replaces its output folder "
            "whole, so name a folder of its own (e.g. reports/<name>)"
        )
    if target in cwd.parents:
        raise OutputError(f"output folder {target}: holds the working folder {cwd}")


def _refuse_holders_of(target: Path, protected: Iterable[str | Path]) -> None:
    for item in protected:
        path = Path(item).resolve()
        if path == target:
            raise OutputError(f"output folder {target}: is an input of this run")
        if target in path.parents:
            raise OutputError(
                f"output folder {target}: holds {path}, an input of this run; name a folder "
                "of its own for the outputs"
            )


def _refuse_bad_name(target: Path) -> None:
    name_max = _name_max(_existing_ancestor(target))
    for part in target.parts[1:]:
        size = len(os.fsencode(part))
        if size > name_max:
            raise OutputError(
                f"output folder {target}: the name {part[:40]}… is too long ({size} bytes; "
                f"the file system allows {name_max})"
            )


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        try:
            if candidate.exists():
                return candidate
        except OSError:  # a name too long: the ancestors are checked next
            continue
    return Path("/")


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return _NAME_MAX_FALLBACK


def _refuse_unwritable(target: Path) -> None:
    # a run renames <out> as a whole: it needs to write in <out>'s parent and in <out> itself
    # (moving a folder updates its ".." entry)
    folder = target.parent if target.exists() else _existing_ancestor(target)
    for place in (folder, target) if target.exists() else (folder,):
        if not place.is_dir():
            raise OutputError(f"output folder {target}: {place} is not a folder")
        if not os.access(place, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {target}: cannot write in {place} (no permission)")


def _refuse_foreign(target: Path, kind: str) -> None:
    entries = _entries(target)
    if not entries:
        return
    manifest = read_manifest(target)
    if manifest is None and kind == RUN_KIND:
        raise OutputError(_foreign_message(target, sorted(entries)))
    if manifest is not None and manifest.get("kind", RUN_KIND) != kind:
        raise OutputError(
            f"output folder {target}: holds a {manifest.get('kind', RUN_KIND)} of siting, "
            f"not a {kind}; name another folder"
        )
    foreign = foreign_files(target, manifest, kind)
    if foreign:
        raise OutputError(_foreign_message(target, foreign))


def _entries(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError as exc:
        raise OutputError(f"output folder {folder}: cannot be read ({exc.strerror})") from exc


def foreign_files(folder: Path, manifest: dict[str, Any] | None, kind: str = RUN_KIND) -> list[str]:
    """Entries of ``folder`` the tool did not write (relative paths; folders end in ``/``).

    A run's folder may hold its manifest's files, their folders and ``history/``; a sweep's
    folder also scenario run folders (each with its own manifest) and the tool's temporary
    files.
    """
    listed = set(manifest["files"]) if manifest is not None else set()
    listed_dirs = {parent.as_posix() for f in listed for parent in Path(f).parents} - {"."}
    foreign: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for d in sorted(dirs):
            path = (rel / d).as_posix()
            keep = path in listed_dirs
            if rel == Path(".") and d == HISTORY_DIR and kind == RUN_KIND:
                keep = False  # the tool's archive: not walked, moved along whole
            elif rel == Path(".") and kind == SWEEP_KIND and read_manifest(folder / d):
                keep = False  # a scenario's run folder, checked when it is published
            elif not keep and not (kind == SWEEP_KIND and _TOOL_TEMP.match(d)):
                foreign.append(path + "/")
            if not keep:
                dirs.remove(d)
        for f in sorted(files):
            path = (rel / f).as_posix()
            if path == MANIFEST_NAME or path in listed:
                continue
            if kind == SWEEP_KIND and _TOOL_TEMP.match(f):
                continue
            foreign.append(path)
        if len(foreign) > 20:
            break
    return foreign


def _foreign_message(target: Path, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:5]) + (f", … (+{len(foreign) - 5} more)" if len(foreign) > 5 else "")
    return (
        f"output folder {target}: holds files siting did not write ({shown}); siting writes "
        f"only into a new or empty folder or one holding an earlier siting run (with "
        f"{MANIFEST_NAME}): name another folder, or move those files away"
    )


# --------------------------------------------------------------------------- staging


@contextmanager
def staged_run(
    out_dir: str | Path,
    protected: Iterable[str | Path] = (),
    timeout_s: float = LOCK_TIMEOUT_S,
) -> Iterator[Path]:
    """Yield a staging folder; on success publish it as ``out_dir`` in one rename.

    The folder is checked first (:func:`check_output_folder`). On an exception (Ctrl-C
    included) the staging folder is removed and ``out_dir`` is untouched; an ``OSError``
    while writing becomes an :class:`OutputError` naming the folder.
    """
    protected = [Path(p) for p in protected]
    target = check_output_folder(out_dir, protected)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))
    except OSError as exc:
        raise OutputError(
            f"output folder {target}: cannot be created ({describe_os_error(exc)})"
        ) from exc
    try:
        try:
            yield staging
        except OSError as exc:
            raise OutputError(
                f"output folder {target}: cannot write the outputs ({describe_os_error(exc)})"
            ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(staging, target, protected, timeout_s)


def _short_name(target: Path) -> str:
    """The folder's name, shortened (with a hash) so that derived names stay legal."""
    name = target.name
    if len(os.fsencode(name)) <= _SHORT_NAME:
        return name
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:10]
    return f"{name[:40]}-{digest}"  # 40 characters are at most 160 bytes


def _sibling_prefix(out_dir: Path, role: str) -> str:
    return f".{_short_name(Path(out_dir))}.{role}-{socket.gethostname()}-"


def _staging_prefix(out_dir: Path, pid: int | None = None) -> str:
    """Name prefix of the staging folders of ``out_dir`` made by process ``pid``."""
    return _sibling_prefix(out_dir, "staging") + f"{os.getpid() if pid is None else pid}-"


def _aside_prefix(out_dir: Path, pid: int | None = None) -> str:
    return _sibling_prefix(out_dir, "old") + f"{os.getpid() if pid is None else pid}-"


def _lock_path(target: Path) -> Path:
    return target.parent / f".{_short_name(target)}.lock"


# --------------------------------------------------------------------------- the lock


@contextmanager
def folder_lock(out_dir: str | Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock of an output folder (``.<name>.lock`` beside it).

    Waits up to ``timeout_s`` (0: try once), then raises :class:`OutputError` naming the
    folder and the process holding it. The lock file is removed on release.
    """
    target = _absolute(Path(out_dir))
    path = _lock_path(target)
    deadline = time.monotonic() + max(0.0, timeout_s)
    while True:
        fd = _open_lock(target, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise OutputError(_lock_message(target, path, timeout_s)) from None
            time.sleep(0.05)
            continue
        if _same_file(fd, path):  # not a lock file its holder removed meanwhile
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held: a waiter then opens a new file
        os.close(fd)


def _open_lock(target: Path, path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(
            f"output folder {target}: cannot create its lock ({describe_os_error(exc)})"
        ) from exc


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _lock_message(target: Path, path: Path, timeout_s: float) -> str:
    try:
        holder = path.read_text(encoding="utf-8").strip() or "?"
    except OSError:
        holder = "?"
    waited = f" (waited {timeout_s:g} s)" if timeout_s > 0 else ""
    return (
        f"output folder {target}: another siting run (process {holder}) is writing to it"
        f"{waited}; try again when it has finished"
    )


# --------------------------------------------------------------------------- publishing


def publish(
    staging: Path,
    out_dir: Path,
    protected: Iterable[str | Path] = (),
    timeout_s: float = LOCK_TIMEOUT_S,
) -> Path | None:
    """Publish the complete run in ``staging`` as ``out_dir`` (see the module docstring).

    Under the folder's lock: recover what a killed publisher left, check the folder again,
    write the manifest, put the run in place in one rename, keep the earlier run whole in
    ``history/``. Returns the earlier run's archive folder (None when there was none). Until
    the rename any failure removes ``staging``; from it on, nothing is removed.
    """
    target = _absolute(Path(out_dir))
    in_place = False
    try:
        if (staging / HISTORY_DIR).exists() or (staging / MANIFEST_NAME).exists():
            raise OutputError(f"output folder {target}: a run may not write {HISTORY_DIR}/ itself")
        with folder_lock(target, timeout_s):
            _kill_hook("locked")
            recover(target)
            check_output_folder(target, protected)
            earlier = read_manifest(target) if target.is_dir() else None
            write_manifest(staging, previous=earlier["run_id"] if earlier else None)
            _kill_hook("staged")
            with _signals_deferred():  # Ctrl-C now would leave the earlier run displaced
                displaced = _put_in_place(staging, target, earlier is not None)
                in_place = True
                archive = _keep_earlier(displaced, target, earlier)
                _kill_hook("archived")
    except OSError as exc:
        raise OutputError(
            f"output folder {target}: cannot publish the run ({describe_os_error(exc)})"
        ) from exc
    finally:
        if not in_place:
            shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "published the run in %s%s", target, f"; the earlier run is in {archive}" if archive else ""
    )
    return archive


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back (delivered on exit) so the few renames finish."""
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _put_in_place(staging: Path, target: Path, has_earlier: bool) -> Path | None:
    """Make ``staging``'s run ``target`` in one rename; return where the earlier run is now.

    Raises OSError only when nothing changed.
    """
    if not has_earlier:
        os.rename(staging, target)  # rename(2) replaces an empty folder atomically
        _kill_hook("swapped")
        return None
    if not os.environ.get(NO_EXCHANGE_ENV) and _exchange(staging, target):
        _kill_hook("swapped")
        return staging
    aside = Path(tempfile.mkdtemp(prefix=_aside_prefix(target), dir=target.parent))
    os.rename(target, aside)  # replaces the empty folder mkdtemp made
    _kill_hook("aside")
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(aside, target)
        raise
    _kill_hook("swapped")
    return aside


def _keep_earlier(
    displaced: Path | None, target: Path, earlier: dict[str, Any] | None
) -> Path | None:
    """Archive the displaced earlier run; a failure only delays it to the next run."""
    if displaced is None:
        return None
    try:
        return _archive(displaced, target, earlier or {})
    except OSError as exc:
        log.warning(
            "the run is published in %s, but the earlier run stays in %s for now (%s); the "
            "next run into that folder moves it to %s/",
            target,
            displaced,
            exc,
            HISTORY_DIR,
        )
        return displaced


def _exchange(a: Path, b: Path) -> bool:
    """Exchange two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _archive(displaced: Path, target: Path, manifest: dict[str, Any]) -> Path:
    """Keep the earlier run (now at ``displaced``) whole in ``target/history/<time>/``."""
    old_history = displaced / HISTORY_DIR
    if old_history.is_dir():
        _merge_history(old_history, target / HISTORY_DIR)
    _kill_hook("history-moved")
    history = target / HISTORY_DIR
    history.mkdir(exist_ok=True)
    archive = _unique(history / _stamp(manifest))
    os.rename(displaced, archive)
    return archive


def _merge_history(source: Path, history: Path) -> None:
    if not history.exists():
        os.rename(source, history)  # one rename: the whole archive at once
        return
    for entry in sorted(source.iterdir()):
        os.rename(entry, _unique(history / entry.name))
    source.rmdir()


def _stamp(manifest: dict[str, Any]) -> str:
    try:
        created = datetime.fromisoformat(str(manifest.get("created")))
    except ValueError:
        created = datetime.now(UTC)
    return created.strftime("%Y%m%d-%H%M%S")


def _unique(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _kill_hook(step: str) -> None:
    """Test hook: die here, as ``kill -9`` would, when the environment asks for it."""
    if os.environ.get(KILL_HOOK_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- recovery


def recover(out_dir: str | Path) -> None:
    """Tidy what publishers of ``out_dir`` killed on this host left beside it (call it under
    :func:`folder_lock`): restore an earlier run renamed aside, archive a displaced earlier
    run into ``history/``, remove unpublished staging folders. A live run's folders are left
    alone."""
    target = _absolute(Path(out_dir))
    for folder in _abandoned(target, _sibling_prefix(target, "old")):
        if not target.exists():
            os.rename(folder, target)
            log.warning("restored the run in %s, left aside by a run that was killed", target)
        else:
            _keep_displaced(folder, target)
    for folder in _abandoned(target, _sibling_prefix(target, "staging")):
        current = read_manifest(target) if target.is_dir() else None
        run = read_manifest(folder)
        if current and run and current.get("previous") == run.get("run_id"):
            _keep_displaced(folder, target)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed %s, left by a run that was killed", folder.name)


def _abandoned(target: Path, prefix: str) -> list[Path]:
    """Sibling folders named ``<prefix><pid>-...`` whose process is gone."""
    found = []
    for folder in sorted(target.parent.glob(f"{glob.escape(prefix)}*")):
        pid_text = folder.name[len(prefix) :].split("-", 1)[0]
        if folder.is_dir() and pid_text.isdigit() and not _process_alive(int(pid_text)):
            found.append(folder)
    return found


def _keep_displaced(folder: Path, target: Path) -> None:
    manifest = read_manifest(folder) or {}
    archive = _archive(folder, target, manifest)
    log.warning("kept the earlier run, displaced by a run that was killed, in %s", archive)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
