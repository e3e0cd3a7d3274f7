"""OR-Library p-median (pmed1-pmed40), set covering (scp4x-scpd, scpnre-scpnrh) and capacitated
p-median (Osman-Christofides pmedcap01-20, Lorena-Senne SJC1-SJC4b) runs.

::

    .venv/bin/python benchmarks/run_orlib.py                      # both suites, in turn
    .venv/bin/python benchmarks/run_orlib.py --suite pmed         # one suite
    .venv/bin/python benchmarks/run_orlib.py --report-only        # rebuild orlib.md
    .venv/bin/python benchmarks/run_orlib.py --suite scp --model lscp-warm   # another model
    .venv/bin/python benchmarks/run_orlib.py --suite cpmp-oc      # capacitated p-median

Rows are kept per (instance, backend, model): a run with ``--model`` adds its rows beside the
plain model's, and the report shows each configuration and, for set covering, a side-by-side
comparison.

Writes ``benchmarks/results/orlib_<suite>.csv`` (rewritten atomically after
every instance, so an interrupted run keeps what finished) and ``orlib.md`` (machine, versions,
command, per-instance tables, counts). A time-limit stop is FEASIBLE with its gap, never
OPTIMAL; ``peak_rss_mb`` is the process's peak so far (monotone over a run).
"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.bench.suites import machine_info, markdown_table, run_suite
from optimizer.outputs import atomic_write, write_csv

RESULTS = Path(__file__).resolve().parent / "results"
PMED = [f"pmed{k}" for k in range(1, 41)]
SCP = (
    [f"scp4{k}" for k in range(1, 11)]
    + [f"scp5{k}" for k in range(1, 11)]
    + [f"scp6{k}" for k in range(1, 6)]
    + [f"scp{c}{k}" for c in "abcd" for k in range(1, 6)]
    + [f"scpnr{c}{k}" for c in "efgh" for k in range(1, 6)]
)
CPMP_OC = [f"pmedcap{k:02d}" for k in range(1, 21)]
CPMP_LS = ["SJC1", "SJC2", "SJC3a", "SJC3b", "SJC4a", "SJC4b"]
INSTANCES = {"pmed": PMED, "scp": SCP, "cpmp-oc": CPMP_OC, "cpmp-ls": CPMP_LS}
log = logging.getLogger("run_orlib")


def csv_path(suite: str) -> Path:
    return RESULTS / f"orlib_{suite}.csv"


DEFAULT_MODEL = {"pmed": "pmedian", "scp": "lscp", "cpmp-oc": "cpmedian", "cpmp-ls": "cpmedian"}


def _read(suite: str) -> pd.DataFrame:
    df = pd.read_csv(csv_path(suite), encoding="utf-8-sig")
    if "model" not in df:
        df["model"] = DEFAULT_MODEL[suite]
    df["model"] = df["model"].fillna(DEFAULT_MODEL[suite])
    return df


def run(
    suite: str,
    backend: str,
    time_limit: float,
    threads: int | None,
    model: str | None = None,
    only: list[str] | None = None,
) -> None:
    model = model or DEFAULT_MODEL[suite]
    rows: list[dict[str, Any]] = []
    done: set[str] = set()
    path = csv_path(suite)
    if path.exists():  # resume: keep finished instances of this configuration, and the others
        old = _read(suite)
        mine = (old["backend"] == backend) & (old["model"] == model)
        if only:
            mine &= ~old["instance"].isin(only)  # asked for again: rerun them
        keep = old[~mine | (old["status"] != "ERROR")]
        rows = keep.to_dict("records")
        done = set(keep.loc[mine.loc[keep.index], "instance"])
    todo = [n for n in (only or INSTANCES[suite]) if n not in done]
    log.info("%s: %d done, %d to run", suite, len(done), len(todo))

    def flush(row: dict[str, Any]) -> None:
        rows.append({**row, "time_limit_s": time_limit, "threads": threads, "command": COMMAND})
        order = {n: i for i, n in enumerate(INSTANCES[suite])}
        df = pd.DataFrame(rows)
        df = df.sort_values(
            ["model", "instance"], key=lambda s: s.map(order) if s.name == "instance" else s
        )
        write_csv(path, df)
        write_report()

    for name in todo:  # one at a time, so each row is flushed as soon as it is ready
        run_suite(suite, [name], [backend], time_limit, threads=threads, on_row=flush, model=model)


def _counts(df: pd.DataFrame, suite: str) -> list[str]:
    out = []
    n = int(df["instance"].nunique())
    status = df["status"].value_counts().to_dict()
    reruns = f" in {len(df)} runs (some again with a longer limit)" if len(df) > n else ""
    out.append(
        f"- {n} of {len(INSTANCES[suite])} instances run{reruns}; status: "
        + ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
    )
    with_opt = df[df["known_optimum"].notna()]
    proven = int(with_opt.loc[with_opt["matches_known"].astype(bool), "instance"].nunique())
    out.append(
        f"- {proven} of {int(with_opt['instance'].nunique())} instances with a published "
        "optimum reached it, proven optimal (in at least one run)"
    )
    hit = with_opt[
        (with_opt["status"] != "OPTIMAL")
        & (
            (with_opt["objective"] - with_opt["known_optimum"]).abs()
            <= 1e-6 * with_opt["known_optimum"].abs().clip(lower=1)
        )
    ]
    if len(hit):
        out.append(
            f"- objective equal to the published optimum but not proven in the time limit: "
            f"{', '.join(hit['instance'])}"
        )
    bad = with_opt[(with_opt["status"] == "OPTIMAL") & ~with_opt["matches_known"].astype(bool)]
    if len(bad):
        out.append(
            f"- OPTIMAL but different from the published optimum: {', '.join(bad['instance'])}"
        )
    solved = df[df["status"] == "OPTIMAL"]
    if len(solved):
        out.append(
            f"- solve time of the proven ones: median {solved['solve_s'].median():.2f} s, "
            f"max {solved['solve_s'].max():.2f} s; peak RSS (process) "
            f"{df['peak_rss_mb'].max():.0f} MB"
        )
    if suite == "scp":
        nr = df[df["instance"].str.startswith("scpnr")]
        if len(nr):
            above = 100 * (nr["objective"] - nr["best_known"]) / nr["best_known"]
            parts = [
                f"{i} {a:+.2f}%" if math.isfinite(a) else f"{i} (no solution)"
                for i, a in zip(nr["instance"], above, strict=True)
            ]
            out.append("- scpnre-scpnrh, % above the best known value: " + ", ".join(parts))
    return out


def write_report() -> None:
    info = machine_info()
    lines = [
        "# OR-Library benchmarks",
        "",
        f"Machine: {info['processor']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"{info['platform']}",
        f"Versions: Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
        f"pandas {info['pandas']}, highspy {info['highspy']}, ortools {info['ortools']}",
        "",
        "Status OPTIMAL means the solver proved optimality (gap 0); a time-limit stop is "
        "FEASIBLE with its gap. `matches_known`: the objective equals the published optimum "
        "(1e-6 relative) with status OPTIMAL. `peak_rss_mb` is the process's peak so far.",
    ]
    for suite in INSTANCES:
        path = csv_path(suite)
        if not path.exists():
            lines += ["", f"## {suite}", "", "not run yet"]
            continue
        full = _read(suite)
        configs = full[["model", "backend"]].drop_duplicates().itertuples(index=False)
        configs = sorted(configs, key=lambda mb: (mb[0] != DEFAULT_MODEL[suite], mb[0], mb[1]))
        if suite == "scp" and len(configs) > 1:
            lines += ["", "## scp: configurations side by side", "", *_side_by_side(full)]
        for model, backend in configs:
            df = full[(full["model"] == model) & (full["backend"] == backend)]
            commands = df["command"].dropna().unique() if "command" in df else []
            ran = ", ".join(f"`{c}`" for c in commands) or "not recorded"
            limits = ", ".join(
                f"{c} {', '.join(str(v) for v in df[c].dropna().unique()) or 'solver default'}"
                for c in ("time_limit_s", "threads")
                if c in df
            )
            lines += [
                "",
                f"## {suite}: {model} on {backend}",
                "",
                f"Command: {ran}; {limits or 'settings not recorded'}",
                "",
            ]
            lines += [*_counts(df, suite), "", markdown_table(df)]
    text = "\n".join(lines) + "\n"
    atomic_write(RESULTS / "orlib.md", lambda p: p.write_text(text, encoding="utf-8"))


def _side_by_side(df: pd.DataFrame) -> list[str]:
    """One row per instance: the reference value and each configuration's answer."""
    configs = sorted(
        df[["model", "backend"]].drop_duplicates().itertuples(index=False),
        key=lambda mb: (mb[0] != "lscp", mb[0], mb[1]),
    )
    head = ["instance", "known optimum", "best known"]
    for model, backend in configs:
        head += [f"{model}/{backend} status", "objective", "bound", "solve_s"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    order = {n: i for i, n in enumerate(INSTANCES["scp"])}
    names = sorted(df["instance"].unique(), key=lambda n: order.get(n, 999))
    for name in names:
        rows = df[df["instance"] == name]
        first = rows.iloc[0]
        cells = [name, _num(first["known_optimum"]), _num(first["best_known"])]
        for model, backend in configs:
            r = rows[(rows["model"] == model) & (rows["backend"] == backend)]
            if not len(r):
                cells += ["", "", "", ""]
                continue
            x = r.iloc[-1]
            cells += [str(x["status"]), _num(x["objective"]), _num(x["bound"]), _num(x["solve_s"])]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _num(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "" if math.isnan(f) else f"{f:.6g}"


COMMAND = "python benchmarks/run_orlib.py"


def main(argv: list[str] | None = None) -> int:
    global COMMAND
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=sorted(INSTANCES), action="append")
    parser.add_argument("--backend", default="highs")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--model", help="a classic model in place of the suite's (lscp-warm)")
    parser.add_argument("--instance", action="append", help="run only these (again)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    COMMAND = "python benchmarks/run_orlib.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for suite in args.suite or sorted(INSTANCES):
            run(suite, args.backend, args.time_limit, args.threads, args.model, args.instance)
    write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
