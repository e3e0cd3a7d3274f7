"""Time and size of a planning run's deliverables (report, explore page, maps, workbook, gpkg).

Plans a scenario once (not timed), then writes the deliverables ``--repeat`` times per language
into a temporary folder, timing each stage, and prints a markdown report (also written to
``--out``, or appended to it with ``--append``): machine, versions, load average, per-stage
seconds (median and min) and file sizes. ``--residents N`` plans the full-city benchmark instead
(``data/make_sample_city.py`` at N residents, as in ``bench_planning.py``, its solve stopped at
``--time-limit``): the size of its ``explore.html`` is the one the issue bounds (< 15 MB).

    python benchmarks/bench_deliverables.py [--scenario scenarios/sample-city.yaml] \
        [--repeat 3] [--out benchmarks/results/deliverables.md]
    python benchmarks/bench_deliverables.py --residents 1200000 --repeat 1 --append
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import numpy as np
import openpyxl
import pandas as pd
import shapely
import yaml

from optimizer.deliverables import explore, maps, report, workbook
from optimizer.deliverables.layers import RunOutputs, map_layers
from optimizer.deliverables.write import write_run_log
from optimizer.pipeline import run_plan


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def once(run: RunOutputs, folder: Path, lang: str) -> dict[str, float]:
    """One full write of the deliverables, stage by stage (what write_deliverables does)."""
    t: dict[str, float] = {}
    layers, t["geometry"] = _timed(map_layers, run)
    figures, t["maps"] = _timed(maps.render_all, run, layers, lang)
    (folder / "maps").mkdir(exist_ok=True)
    for name, png in figures.images.items():
        (folder / "maps" / f"{name}.png").write_bytes(png)
    _, t["workbook"] = _timed(workbook.write_workbook, folder / "plan.xlsx", run, lang)
    _, t["geopackage"] = _timed(workbook.write_geopackage, folder / "plan.gpkg", run, layers)
    html, t["html"] = _timed(report.render_report, run, figures, lang)
    (folder / "report.html").write_text(html, encoding="utf-8")
    _, t["explore"] = _timed(explore.write_explore, folder / "explore.html", run, layers, lang)
    write_run_log(folder / "run.log", run)
    t["total"] = sum(t.values())
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="scenarios/sample-city.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/deliverables.md"))
    parser.add_argument("--append", action="store_true", help="append to --out")
    parser.add_argument("--residents", type=int, help="plan the full city of N residents")
    parser.add_argument("--time-limit", type=float, default=120.0, help="full city's solve")
    args = parser.parse_args()

    work = tempfile.TemporaryDirectory(prefix="bench-deliverables-")
    scenario = args.scenario
    command = f"--scenario {args.scenario} --repeat {args.repeat}"
    if args.residents:
        scenario = full_city(Path(work.name), args.residents, args.time_limit)
        command = (
            f"--residents {args.residents} --time-limit {args.time_limit:g} --repeat {args.repeat}"
        )
    planned = run_plan(scenario, write=False)
    run = RunOutputs.from_plan(
        planned.scenario, planned.inputs, planned.plan, planned.summary, engine=planned.engine
    )
    maps.cjk_font()  # font lookup once, outside the timings
    rows, sizes = [], {}
    load_before = os.getloadavg()
    for lang in ("zh", "en"):
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                t = once(run, folder, lang)
                rows.append({"lang": lang, "repeat": i, **t})
                if i == 0:
                    for p in sorted(folder.rglob("*")):
                        if p.is_file():
                            sizes[(lang, str(p.relative_to(folder)))] = p.stat().st_size
    load_after = os.getloadavg()
    df = pd.DataFrame(rows)
    stages = ["geometry", "maps", "workbook", "geopackage", "html", "explore", "total"]
    summary = df.groupby("lang")[stages].agg(["median", "min"])

    counts = planned.summary["counts"]
    lines = [
        "# Deliverables of a planning run: time and size",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/bench_deliverables.py "
        f"{command}`.",
        "",
        f"Machine: cores {os.cpu_count()}, python {platform.python_version()}, numpy "
        f"{np.__version__}, pandas {pd.__version__}, shapely {shapely.__version__}, matplotlib "
        f"{matplotlib.__version__}, openpyxl {openpyxl.__version__}, os {platform.platform()}. "
        f"Load average (1, 5, 15 min) before {tuple(round(x, 2) for x in load_before)}, after "
        f"{tuple(round(x, 2) for x in load_after)} (the machine is shared: timings are noisy).",
        "",
        f"Scenario: {planned.summary['scenario']}: {counts['blocks']} blocks (polygons), "
        f"{counts['sites']} candidate sites, {counts['existing']} existing facilities, "
        f"{len(planned.plan.construction_list)} facilities on "
        f"{planned.plan.construction_list['site_id'].nunique()} sites in the plan, street "
        "network drawn on every map. The plan is solved once, untimed; each repeat writes "
        "every deliverable into a fresh folder. CJK font: "
        f"{maps.cjk_font() or 'none (English map labels)'}. Plan status "
        f"{planned.summary['status']} (gap {planned.summary.get('gap')}).",
        "",
        "explore.html: "
        + ", ".join(
            f"{lang} {size / 2**20:.1f} MB"
            for (lang, name), size in sizes.items()
            if name == "explore.html"
        )
        + " (the issue's bound for the full city: 15 MB; Bokeh's inline script is about 2 MB "
        "of it).",
        "",
        "## Seconds per stage (median / min)",
        "",
        "| lang | " + " | ".join(stages) + " |",
        "|---|" + "---:|" * len(stages),
    ]
    for lang, row in summary.iterrows():
        cells = [f"{row[(s, 'median')]:.2f} / {row[(s, 'min')]:.2f}" for s in stages]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    lines += ["", "## Files (first repeat)", "", "| lang | file | KB |", "|---|---|---:|"]
    for (lang, name), size in sizes.items():
        lines.append(f"| {lang} | {name} | {size / 1024:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.append and args.out.exists():
        old = args.out.read_text(encoding="utf-8")
        text = (
            old
            + "\n"
            + text.replace("# Deliverables", "## Deliverables", 1).replace("\n## ", "\n### ")
        )
    args.out.write_text(text, encoding="utf-8")
    work.cleanup()
    print(f"written to {args.out}", file=sys.stderr)


def full_city(folder: Path, residents: int, time_limit: float) -> Path:
    """The full-city benchmark's scenario (bench_planning.py's phased-max-coverage)."""
    city = folder / "city.gpkg"
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            str(root / "data/make_sample_city.py"),
            "--residents",
            str(residents),
            "--out",
            str(city),
        ],
        check=True,
        capture_output=True,
    )
    layers = {k: {"path": str(city), "layer": k} for k in ("blocks", "sites", "existing")}
    scenario = {
        "name": "full-city",
        "crs": "EPSG:4548",
        "inputs": layers | {"network": {"path": str(city), "layer": "streets"}},
        "facility_types": ["elder_care", "nursery", "kindergarten", "convenience"],
        "distances": {"mode": "network", "snap_tolerance_m": 200, "cache": False},
        "model": {
            "objective": "max_coverage",
            "budgets": {2026: 150_000_000, 2027: 200_000_000, 2028: 200_000_000},
            "essential_checks": 0,
        },
        "solver": {"name": "highs", "time_limit_s": time_limit, "mip_gap": 0.005},
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    main()
