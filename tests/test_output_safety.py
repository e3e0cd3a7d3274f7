"""Nothing a user owns is ever moved or lost; a run is published whole (issue 15).

Output folders the tool must not write into are refused before any work, with exit code 5 and
a message naming the folder; nothing outside the output folder changes (a snapshot of the
surrounding tree before and after). Publishing is one rename: ``kill -9`` at every step
(through the ``SITING_TEST_KILL_AT`` hook, in a child process) leaves the earlier or the new
complete run, and a rerun succeeds with every earlier run kept whole in ``history/``; two
publishers at once end with complete runs only.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from optimizer import outputs
from optimizer.cli import main
from optimizer.errors import OutputError, ScenarioError
from optimizer.outputs import (
    HISTORY_DIR,
    KILL_HOOK_ENV,
    MANIFEST_NAME,
    NO_EXCHANGE_ENV,
    SWEEP_KIND,
    check_output_folder,
    folder_lock,
    read_manifest,
    recover,
    staged_run,
    write_json,
    write_manifest,
)
from optimizer.scenario import load_scenario
from optimizer.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = ("a.json", "b.json", "sub/c.json")

# A publisher in a child process: the run's files all carry its tag, so a mix shows.
CHILD = f"""
import sys, time
from pathlib import Path
from optimizer.outputs import staged_run, write_json
out, tag, wait_until = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
with staged_run(out) as stage:
    for name in {RUN_FILES!r}:
        write_json(stage / name, {{"run": tag}})
    time.sleep(max(0.0, wait_until - time.time()))
"""


# --------------------------------------------------------------------------- helpers


def snapshot(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under ``root`` (but ``skip``) with its content hash and mtime."""
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            seen[rel] = "link:" + os.readlink(path)
        elif path.is_dir():
            seen[rel] = "dir"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            seen[rel] = f"{digest}:{path.stat().st_mtime_ns}"
    return seen


def publish_run(out: Path, tag: str) -> None:
    with staged_run(out) as stage:
        for name in RUN_FILES:
            write_json(stage / name, {"run": tag})


def run_tag(folder: Path) -> str:
    """The tag of the complete run in ``folder``; fails on a partial or mixed run."""
    manifest = read_manifest(folder)
    assert manifest is not None, f"{folder} holds no complete run"
    assert sorted(manifest["files"]) == sorted(RUN_FILES)
    tags = {json.loads((folder / name).read_text())["run"] for name in RUN_FILES}
    assert len(tags) == 1, f"{folder} mixes runs {tags}"
    extra = outputs.foreign_files(folder, manifest)
    assert not extra, f"{folder} holds {extra}"
    return tags.pop()


def history_tags(out: Path) -> list[str]:
    history = out / HISTORY_DIR
    return sorted(run_tag(p) for p in history.iterdir()) if history.exists() else []


def siblings(out: Path) -> list[str]:
    """What the tool left beside the folder (staging, aside, lock)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def child(
    out: Path, tag: str, env: dict[str, str], wait_until: float = 0.0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out), tag, str(wait_until)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def siting(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # wide lines: the messages' paths are checked whole
    return subprocess.run(
        [sys.executable, "-m", "optimizer.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "2000"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project: inputs under data/tables, a home folder, a working folder."""
    (tmp_path / "data" / "tables").mkdir(parents=True)
    (tmp_path / "data" / "tables" / "blocks.csv").write_text("block_id\nB1\n")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "s.yaml").write_text("name: s\n")
    (tmp_path / "home" / "user").mkdir(parents=True)
    (tmp_path / "home" / "user" / "notes.txt").write_text("mine\n")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "draft.txt").write_text("mine too\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "user"))
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


PROTECTED = ("scenarios/s.yaml", "data/tables/blocks.csv")


def _user_file_folder(w: Path) -> Path:
    (w / "mine").mkdir()
    (w / "mine" / "thesis.docx").write_text("years of work")
    return w / "mine"


def _run_with_user_file(w: Path) -> Path:
    publish_run(w / "out", "earlier")
    (w / "out" / "sub" / "keep.txt").write_text("added by hand")
    return w / "out"


def _user_empty_dir(w: Path) -> Path:
    publish_run(w / "out", "earlier")
    (w / "out" / "photos").mkdir()
    return w / "out"


def _corrupt_manifest(w: Path) -> Path:
    publish_run(w / "out", "earlier")
    (w / "out" / MANIFEST_NAME).write_text("{not json")
    return w / "out"


def _existing_file(w: Path) -> Path:
    (w / "report.pdf").write_text("%PDF")
    return w / "report.pdf"


def _symlink(w: Path) -> Path:
    (w / "real").mkdir()
    (w / "link").symlink_to(w / "real")
    return w / "link"


def _sweep_folder(w: Path) -> Path:
    (w / "sw").mkdir()
    write_manifest(w / "sw", SWEEP_KIND, files=["comparison.csv"])
    return w / "sw"


REFUSED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "cwd": (lambda w: Path("."), "is the working folder"),
    "cwd-parent": (lambda w: Path(".."), "holds your home folder"),
    "root": (lambda w: Path("/"), "root of the file system"),
    "home": (lambda w: Path("~"), "is your home folder"),
    "home-parent": (lambda w: w / "home", "holds your home folder"),
    "scenario-folder": (lambda w: w / "scenarios", "holds"),
    "input-ancestor": (lambda w: w / "data", "an input of this run"),
    "input-itself": (lambda w: w / "data" / "tables" / "blocks.csv", "is an input"),
    "user-file": (_user_file_folder, "thesis.docx"),
    "user-file-in-run": (_run_with_user_file, "sub/keep.txt"),
    "user-empty-dir": (_user_empty_dir, "photos/"),
    "corrupt-manifest": (_corrupt_manifest, "did not write"),
    "existing-file": (_existing_file, "is a file, not a folder"),
    "symlink": (_symlink, "symbolic link"),
    "long-name": (lambda w: w / ("x" * 300), "too long (300 bytes"),
    "long-parent": (lambda w: w / ("y" * 300) / "out", "too long (300 bytes"),
    "under-a-file": (lambda w: _existing_file(w) / "out", "is not a folder"),
    "a-sweep-folder": (_sweep_folder, "holds a sweep of siting, not a run"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_folder_the_tool_must_not_write_into_is_refused(world: Path, case: str) -> None:
    make, reason = REFUSED[case]
    out = make(world)
    before = snapshot(world)
    protected = [world / p for p in PROTECTED]
    with pytest.raises(OutputError) as info, staged_run(out, protected) as stage:
        write_json(stage / "a.json", {"run": "new"})
    message = str(info.value)
    assert reason in message
    named = os.path.abspath(os.path.expanduser(str(out)))
    assert (
        f"output folder {named}" in message or f"output folder {Path(named).resolve()}" in message
    )
    assert snapshot(world) == before  # nothing anywhere changed, no staging left


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(world: Path) -> None:
    (world / "ro").mkdir()
    os.chmod(world / "ro", 0o555)
    try:
        with pytest.raises(OutputError, match="cannot write in"):
            check_output_folder(world / "ro" / "out")
    finally:
        os.chmod(world / "ro", 0o755)


def test_a_sweep_refuses_a_plan_run_folder(world: Path) -> None:
    publish_run(world / "out", "earlier")
    with pytest.raises(OutputError, match="holds a run of siting, not a sweep"):
        check_output_folder(world / "out", kind=SWEEP_KIND)


@pytest.mark.parametrize("name", [".", "..", "a/b", "x" * 201, "../up", ""])
def test_a_scenario_name_that_is_not_a_plain_file_name_is_refused(world: Path, name: str) -> None:
    folder = world / "line"
    folder.mkdir()
    (folder / "blocks.csv").write_text("block_id,x,y,population\nB1,0,0,1\n")
    (folder / "sites.csv").write_text("site_id,x,y,floor_area_m2,fixed_cost\nS1,0,0,1,1\n")
    data = {"name": name, "inputs": {"blocks": "blocks.csv", "sites": "sites.csv"}}
    (folder / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(folder / "s.yaml")
    assert "name" in str(info.value)
    assert main(["plan", str(folder / "s.yaml")]) == 2
    assert not (world / "work" / "reports").exists()


# --------------------------------------------------------------------------- the real CLI


def _cli_case_snapshot(line_city: Path) -> tuple[Path, dict[str, str]]:
    root = line_city.parent.parent
    return root, snapshot(root)


@pytest.mark.slow
def test_cli_plan_out_dot_in_the_scenario_folder_is_refused(line_city: Path) -> None:
    root, before = _cli_case_snapshot(line_city)
    proc = siting("plan", line_city.name, "--out", ".", cwd=line_city.parent)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(line_city.parent) in proc.stderr and "working folder" in proc.stderr
    assert snapshot(root) == before


@pytest.mark.slow
def test_cli_scenario_output_dir_above_the_project_is_refused(line_city: Path) -> None:
    data = yaml.safe_load(line_city.read_text())
    data["output"] = {"dir": "../../.."}
    line_city.write_text(yaml.safe_dump(data))
    root, before = _cli_case_snapshot(line_city)
    proc = siting("plan", str(line_city), cwd=line_city.parent)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "holds" in proc.stderr
    assert snapshot(root) == before


@pytest.mark.slow
def test_cli_solve_out_the_folder_of_its_tables_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    for name in ("d.csv", "s.csv", "od.csv"):
        (tmp_path / "t" / name).write_text("x\n")
    before = snapshot(tmp_path)
    proc = siting(
        "solve", "--model", "pmedian", "--p", "1", "--demand", "t/d.csv", "--sites", "t/s.csv",
        "--distances", "t/od.csv", "--out", "t",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(tmp_path / "t") in proc.stderr and "input of this run" in proc.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_cli_plan_reruns_keep_every_run_and_never_touch_a_user_file(line_city: Path) -> None:
    root = line_city.parent.parent
    out = root / "reports" / "line"
    (root / "reports").mkdir()
    (root / "reports" / "readme.txt").write_text("the user's")
    first = siting("plan", str(line_city), "--out", str(out), "--lang", "en", cwd=root)
    assert first.returncode == 0, first.stderr
    manifest = read_manifest(out)
    assert manifest is not None and "summary.json" in manifest["files"]
    assert set(manifest["files"]) == set(outputs._files_under(out)) - {MANIFEST_NAME}
    before = snapshot(root, skip=out)
    second = siting("plan", str(line_city), "--out", str(out), "--lang", "en", cwd=root)
    assert second.returncode == 0, second.stderr
    after = snapshot(root, skip=out)
    catalogue = {k for k in after if k.startswith("reports/runs.sqlite")}
    assert {k: v for k, v in after.items() if k not in catalogue} == {
        k: v for k, v in before.items() if k not in catalogue
    }
    (archived,) = (out / HISTORY_DIR).iterdir()
    assert read_manifest(archived) == manifest  # the earlier run, whole, and nothing else
    assert set(outputs._files_under(archived)) == {*manifest["files"], MANIFEST_NAME}
    (out / "mine.txt").write_text("dropped in by hand")
    third = siting("plan", str(line_city), "--out", str(out), "--lang", "en", cwd=root)
    assert third.returncode == 5 and "mine.txt" in third.stderr and str(out) in third.stderr
    assert "Traceback" not in third.stderr
    assert (out / "mine.txt").read_text() == "dropped in by hand"


def test_cli_distances_bench_and_sweep_refuse_too(
    line_city: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, before = _cli_case_snapshot(line_city)
    monkeypatch.chdir(line_city.parent)
    monkeypatch.setenv("COLUMNS", "2000")  # wide lines: the messages' paths are checked whole
    assert main(["distances", str(line_city), "--out", str(line_city.parent)]) == 5
    assert main(["bench", "--suite", "pmed", "--out", "/"]) == 5
    assert main(["sweep", str(line_city), "--budgets", "1e6", "--out", "."]) == 5
    assert main(["solve", "--model", "pmedian", "--demand", "a", "--sites", "b",
                 "--distances", "c", "--out", str(Path.home())]) == 5  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("cannot write outputs") == 4
    assert str(line_city.parent) in err and "root of the file system" in err
    assert "home folder" in err
    assert snapshot(root) == before


# --------------------------------------------------------------------------- publishing


def test_a_rerun_archives_only_the_manifest_files_and_keeps_history(world: Path) -> None:
    out = world / "reports" / "x"
    (world / "reports").mkdir()
    (world / "reports" / "beside.txt").write_text("the user's")
    before = snapshot(world, skip=out)
    for tag in ("one", "two", "three"):
        publish_run(out, tag)
    assert run_tag(out) == "three"
    assert history_tags(out) == ["one", "two"]
    assert snapshot(world, skip=out) == before
    assert siblings(out) == []
    two = next(p for p in (out / HISTORY_DIR).iterdir() if run_tag(p) == "two")
    assert (read_manifest(out) or {}).get("previous") == (read_manifest(two) or {})["run_id"]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_an_error_or_ctrl_c_while_building_leaves_the_earlier_run(
    world: Path, exchange: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not exchange:
        monkeypatch.setenv(NO_EXCHANGE_ENV, "1")
    out = world / "out"
    publish_run(out, "earlier")
    for error in (KeyboardInterrupt, RuntimeError):
        with pytest.raises(error), staged_run(out) as stage:
            write_json(stage / "a.json", {"run": "new"})
            raise error()
    full = pytest.raises(OutputError, match=f"output folder {out}: cannot write")
    with full, staged_run(out):
        raise OSError(28, "No space left on device")
    assert run_tag(out) == "earlier" and siblings(out) == []


def test_a_failing_rename_leaves_the_earlier_run_and_no_staging(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = world / "out"
    publish_run(out, "earlier")
    monkeypatch.setenv(NO_EXCHANGE_ENV, "1")
    real_rename = os.rename

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == out and ".staging-" in str(src):
            raise PermissionError(13, "Permission denied", str(dst))
        real_rename(src, dst)

    monkeypatch.setattr(outputs.os, "rename", rename)
    with pytest.raises(OutputError, match=f"output folder {out}: cannot publish"):
        publish_run(out, "new")
    assert run_tag(out) == "earlier" and siblings(out) == [] and history_tags(out) == []


def test_a_second_run_waits_for_the_lock_then_refuses_clearly(world: Path) -> None:
    out = world / "out"
    publish_run(out, "earlier")
    with folder_lock(out):
        started = time.monotonic()
        with pytest.raises(OutputError) as info, staged_run(out, timeout_s=0.5) as stage:
            write_json(stage / "a.json", {"run": "new"})
        assert time.monotonic() - started >= 0.5
    assert f"output folder {out}: another siting run (process {os.getpid()})" in str(info.value)
    assert run_tag(out) == "earlier" and siblings(out) == []


KILL_CASES = [
    # (step, earlier runs before the killed one, two-rename fallback)
    ("locked", 2, False),
    ("staged", 2, False),
    ("swapped", 2, False),
    ("history-moved", 2, False),
    ("archived", 2, False),
    ("staged", 0, False),
    ("swapped", 0, False),
    ("aside", 2, True),
    ("swapped", 2, True),
    ("history-moved", 2, True),
    ("archived", 1, True),
]


@pytest.mark.parametrize(
    ("step", "earlier", "fallback"),
    KILL_CASES,
    ids=[f"{s}-{n}-{'renames' if f else 'exchange'}" for s, n, f in KILL_CASES],
)
@pytest.mark.slow
def test_kill_9_at_every_publishing_step_leaves_one_complete_run(
    world: Path, step: str, earlier: int, fallback: bool
) -> None:
    out = world / "reports" / "out"
    tags = [f"run{i}" for i in range(earlier)]
    for tag in tags:
        publish_run(out, tag)
    env = {KILL_HOOK_ENV: step, **({NO_EXCHANGE_ENV: "1"} if fallback else {})}
    proc = child(out, "killed", env)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "the hook did not fire"
    published = step in ("swapped", "history-moved", "archived")
    if step == "aside":
        assert not out.exists()  # the one documented window of the fallback: recovered next
        with folder_lock(out):
            recover(out)
    if earlier or published:
        assert run_tag(out) == ("killed" if published else tags[-1])
    else:
        assert read_manifest(out) is None and (not out.exists() or not any(out.iterdir()))
    publish_run(out, "rerun")  # recovers what the killed run left, then publishes
    assert run_tag(out) == "rerun"
    assert history_tags(out) == sorted(tags + (["killed"] if published else []))
    assert siblings(out) == []


@pytest.mark.slow
def test_two_publishers_at_once_end_with_complete_runs_only(world: Path) -> None:
    out = world / "out"
    publish_run(out, "earlier")
    at = time.time() + 4.0  # both import, stage, then publish at about the same instant
    procs = [child(out, tag, {}, at) for tag in ("A", "B")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    winner = run_tag(out)
    assert winner in ("A", "B")
    assert history_tags(out) == sorted(["earlier", "A" if winner == "B" else "B"])
    assert siblings(out) == []


def test_a_long_but_legal_name_publishes_and_reruns(world: Path) -> None:
    out = world / ("长" * 80 + "x" * 10)  # 250 bytes: the staging and lock names stay legal
    publish_run(out, "one")
    publish_run(out, "two")
    assert run_tag(out) == "two" and history_tags(out) == ["one"]
    assert [p.name for p in world.iterdir() if p.name.startswith(".")] == []


def test_a_sweep_folder_holds_scenario_runs_and_its_listed_files_only(world: Path) -> None:
    sweep = world / "sweep"
    publish_run(sweep / "001-budget", "scenario")
    write_manifest(sweep, SWEEP_KIND, files=["comparison.csv", "maps/coverage_budget.png"])
    (sweep / "maps").mkdir()
    (sweep / "maps" / "coverage_budget.png").write_bytes(b"png")
    (sweep / ".comparison.csv.abc.tmp").write_text("left by a kill")
    assert check_output_folder(sweep, kind=SWEEP_KIND) == sweep
    (sweep / "002-by-hand").mkdir()
    with pytest.raises(OutputError, match=f"output folder {sweep}: .*002-by-hand/"):
        check_output_folder(sweep, kind=SWEEP_KIND)


def test_a_second_sweep_into_the_same_folder_is_refused_at_once(line_city: Path) -> None:
    out = line_city.parent.parent / "sweep"
    with folder_lock(out), pytest.raises(OutputError, match="another siting run"):
        run_sweep(line_city, budgets=[1e6], out_dir=out, mode="sequential")
    assert not out.exists()
