"""Writing a run's files safely.

Every file is written to a temporary name in its destination folder and renamed into place,
so a reader never sees half a file. A run is staged in a hidden folder beside its output
folder and published only when it succeeded; an earlier run's files in that folder are moved to
``history/<time>/`` first, so a failed or repeated run never destroys an earlier one.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


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


@contextmanager
def staged_run(out_dir: Path) -> Iterator[Path]:
    """Yield a staging folder; on success publish its files into ``out_dir``.

    On an exception the staging folder is removed and ``out_dir`` is untouched.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_staging(out_dir)
    staging = Path(
        tempfile.mkdtemp(prefix=_staging_prefix(out_dir, os.getpid()), dir=out_dir.parent)
    )
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(staging, out_dir)


def _staging_prefix(out_dir: Path, pid: int) -> str:
    return f".{out_dir.name}.staging-{socket.gethostname()}-{pid}-"


def _remove_abandoned_staging(out_dir: Path) -> None:
    """Remove staging folders of ``out_dir`` left by a run of this host that was killed
    outright (its process is gone); a live run's folder is left alone."""
    host = f".{out_dir.name}.staging-{socket.gethostname()}-"
    for folder in out_dir.parent.glob(f"{glob.escape(host)}*"):
        pid_text = folder.name[len(host) :].split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        log.info("removed %s, left by a run that was killed", folder.name)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def publish(staging: Path, out_dir: Path) -> None:
    """Move staged files into ``out_dir``, archiving an earlier run's files first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    earlier = [p for p in out_dir.iterdir() if p.name != "history" and not p.name.startswith(".")]
    if earlier:
        stamp = datetime.fromtimestamp(max(p.stat().st_mtime for p in earlier))
        archive = out_dir / "history" / stamp.strftime("%Y%m%d-%H%M%S")
        n = 1
        while archive.exists():
            n += 1
            archive = archive.with_name(f"{stamp.strftime('%Y%m%d-%H%M%S')}-{n}")
        archive.mkdir(parents=True)
        for p in earlier:
            os.replace(p, archive / p.name)
        log.info("kept the earlier run's files in %s", archive)
    for p in sorted(staging.iterdir()):
        os.replace(p, out_dir / p.name)
    staging.rmdir()
