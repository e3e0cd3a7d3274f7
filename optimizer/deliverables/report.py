"""``report.html``: the planning report a bureau can hand on, in one self-contained file.

Everything is inline (CSS from ``templates/report.css``, maps and charts as base64 PNG); the
page has no script and loads nothing from the network, so it opens offline and prints to A4.

Sections: headline figures (cost, sites, coverage before -> after, solver status and gap; a
plan stopped at a limit is shown as feasible with its gap, never as optimal), notes, coverage
per facility type and per area type (new / old), maps, the cost-coverage curve and the ranked
construction list by year (with each year's budget when the plan has budgets), a sweep's
comparison when given, and the standards and assumptions behind the plan.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from importlib import resources
from string import Template
from typing import Any

import pandas as pd

from optimizer.deliverables.labels import (
    Lang,
    circle_subtitle,
    column_name,
    display_names,
    distance_text,
    finite,
    fitout_text,
    group_label,
    headline_text,
    label,
    level_label,
    localized,
    money,
    money_cell,
    money_unit,
    need_text,
    pct,
    phase_label,
    short_type_label,
    size_text,
    status_word,
    timing_label,
    type_label,
    type_sources,
    unit_label,
)
from optimizer.deliverables.layers import (
    RunOutputs,
    per_area_table,
    service_area_method,
    year_totals,
)
from optimizer.deliverables.maps import Figures, type_colours
from optimizer.messages import LIST_SEPARATORS
from optimizer.result import gap_percent

COMPARISON_COLUMNS = ("budget", "cost", "coverage_pct", "sites", "status", "gap")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(v) else f"{v:,.{digits}f}"


def _table(
    headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]], cls: str = ""
) -> str:
    """An HTML table; ``headers`` are (escaped text, numeric?); cells are already HTML."""
    head = "".join(f'<th class="n">{h}</th>' if n else f"<th>{h}</th>" for h, n in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
            for c, (_, n) in zip(row, headers, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain values (missing values as None)."""
    return [
        {str(k): (None if _missing(v) else v) for k, v in row.items()}
        for row in df.to_dict(orient="records")
    ]


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array is not missing
        return False


def _gap(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{v:.2%}" if math.isfinite(v) else "—"


def _img(png: bytes, alt: str, ident: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{_e(ident)}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _figure(png: bytes, caption: str, ident: str, file: str | None = None) -> str:
    where = f' · <span class="mono">{_e(file)}</span>' if file else ""
    return (
        f"<figure>{_img(png, caption, ident)}<figcaption>{_e(caption)}{where}</figcaption></figure>"
    )


# --------------------------------------------------------------------------- status


def solver_state(summary: dict[str, Any]) -> tuple[str, float | None]:
    """The plan's status for readers: FEASIBLE if any solve phase stopped short of optimal.

    Returns the status and the largest gap over the phases (the summary's gap otherwise).
    """
    status = str(summary.get("status") or "UNKNOWN")
    gaps = [summary.get("gap")]
    for phase in summary.get("phases") or []:
        gaps.append(phase.get("gap"))
        if phase.get("status") == "FEASIBLE" and status == "OPTIMAL":
            status = "FEASIBLE"
    finite = [float(g) for g in gaps if isinstance(g, (int, float)) and math.isfinite(g)]
    return status, (max(finite) if finite else None)


def _flat_timings(timings: dict[str, Any]) -> dict[str, Any]:
    """Stage timings with the per-phase times (``phases_s``) listed beside them."""
    flat = {k: v for k, v in timings.items() if not isinstance(v, dict)}
    for v in timings.values():
        if isinstance(v, dict):
            flat.update(v)
    return flat


def _names(run: RunOutputs, lang: Lang) -> dict[str, str]:
    """The run's facility types and units in words, for translated messages."""
    return display_names({key: run.ftype(key) for key in run.types}, lang)


def _say(run: RunOutputs, text: Any, lang: Lang) -> str:
    """A text the run wrote in English (reason, note, check, model) in ``lang``."""
    return localized(text, lang, run.summary, _names(run, lang))


def _walk_limits(run: RunOutputs) -> list[float]:
    """The walking limits of the planned types (after the scenario's overrides)."""
    return [t.walk_limit_m for key in run.types if (t := run.ftype(key)) is not None]


def status_html(summary: dict[str, Any], lang: Lang) -> tuple[str, str]:
    """(CSS class, HTML) of the solver status with its gap."""
    status, gap = solver_state(summary)
    gap_text = f"{label('gap', lang)} {gap_percent(gap)}" if gap is not None else ""
    if status == "OPTIMAL":
        # optimal within a requested gap tolerance is not proven optimal: say which
        word = label("status_OPTIMAL" if not gap or gap <= 1e-9 else "status_OPTIMAL_TOL", lang)
        return "ok", f'<span class="badge ok">{_e(word)}</span> {gap_text}'
    if status == "FEASIBLE":
        bound = summary.get("bound")
        extra = f" · {label('bound', lang).lower()} {_num(bound, 2)}" if bound is not None else ""
        return "warn", (
            f'<span class="badge warn">{_e(label("status_FEASIBLE", lang))}</span> '
            f"{gap_text}{extra}"
        )
    return "bad", f'<span class="badge bad">{_e(status)}</span>'


# --------------------------------------------------------------------------- sections


def _cover(run: RunOutputs, lang: Lang) -> str:
    s = run.summary
    desc = s.get("description") or ""
    return (
        '<header class="cover">'
        f'<div class="kicker">{_e(circle_subtitle(_walk_limits(run), lang))}</div>'
        f"<h1>{_e(label('title', lang))}</h1>"
        f'<div class="scenario">{_e(s.get("scenario"))}</div>'
        + (f'<div class="desc">{_e(desc)}</div>' if desc else "")
        + f'<div class="meta">{_e(label("created", lang))} {_e(s.get("created"))} · '
        f'{_e(label("run_id", lang))} <span class="mono">{_e(run.run_id)}</span> · '
        f"siting {_e(s.get('version'))}</div></header>"
    )


def _toc(lang: Lang, comparison: bool) -> str:
    items = [
        ("headline", "headline"),
        ("coverage", "per_type"),
        ("maps", "maps"),
        ("list", "construction_list"),
    ]
    if comparison:
        items.append(("comparison", "comparison"))
    items.append(("assumptions", "assumptions"))
    links = "".join(f'<a href="#{a}">{_e(label(k, lang))}</a>' for a, k in items)
    return f'<nav class="toc">{links}</nav>'


def _headline(run: RunOutputs, lang: Lang) -> str:
    s = run.summary
    totals = s.get("totals") or {}
    cls, status = status_html(s, lang)
    multi = s.get("sites_with_several_types")
    sites_sub = (
        (f"其中 {multi} 处一点多能" if lang == "zh" else f"{multi} host several types")
        if multi
        else ""
    )
    before, after = totals.get("coverage_pct_before"), totals.get("coverage_pct_after")
    cards = [
        (
            "",
            label("total_cost", lang),
            _e(money(totals.get("cost"), lang)),
            f"{_num(totals.get('facilities_built'))} {_e(label('facilities_built', lang))}",
        ),
        ("", label("sites_opened", lang), _num(totals.get("sites_opened")), _e(sites_sub)),
        (
            "",
            label("coverage_mean", lang),
            f"{_e(pct(before))} <small>→</small> {_e(pct(after))}",
            _e(label("coverage_mean_note", lang)),
        ),
        # the headline names the weakest phase ("FEASIBLE: cost phase stopped at ...")
        (
            cls,
            label("solver_status", lang),
            status,
            _e(f"{s.get('solver')} · {headline_text(s, lang)}"),
        ),
    ]
    html_cards = "".join(
        f'<div class="card {c}"><div class="k">{_e(k)}</div>'
        f'<div class="v{" status" if c else ""}">{v}</div><div class="s">{sub}</div></div>'
        for c, k, v, sub in cards
    )
    notes = "".join(
        f'<div class="callout">{_e(_say(run, n, lang))}</div>' for n in s.get("notes") or []
    )
    return (
        f'<section id="headline"><h2>{_e(label("headline", lang))}</h2>'
        f'<div class="cards">{html_cards}</div>{notes}</section>'
    )


def _bar(before: float, after: float, colour: str) -> str:
    b = max(0.0, min(100.0, before if math.isfinite(before) else 0.0))
    a = max(b, min(100.0, after if math.isfinite(after) else b))
    return (
        f'<div class="bar"><span class="before" style="width:{b:.2f}%"></span>'
        f'<span style="left:{b:.2f}%;width:{a - b:.2f}%;background:{colour}"></span></div>'
    )


def _type_cell(
    run: RunOutputs, key: str, lang: Lang, colours: dict[str, str], short: bool = False
) -> str:
    name = (short_type_label if short else type_label)(run.ftype(key), key, lang)
    return f'<span class="dot" style="background:{colours.get(key, "#888")}"></span>' + _e(name)


def _per_type(run: RunOutputs, lang: Lang, colours: dict[str, str]) -> str:
    headers = [
        (_e(label("facility_type", lang)), False),
        (_e(label("target_group", lang)), False),
        (_e(label("target_total", lang)), True),
        (_e(label("covered_before", lang)), True),
        (_e(label("covered_after", lang)), True),
        (_e(label("coverage_change", lang)), False),
        (_e(label("uncoverable", lang)), True),
        (_e(label("facilities_built", lang)), True),
        (_e(f"{label('fitout_cost', lang)} ({money_unit(lang)})"), True),
    ]
    rows = []
    records = {str(r["facility_type"]): r for r in _records(run.per_type)}
    for key in run.types:
        if key not in records:
            continue
        r = records[key]
        t = run.ftype(key)
        group = group_label(t.target_group, lang) if t is not None else str(r.get("target_group"))
        rows.append(
            [
                _type_cell(run, key, lang, colours),
                _e(group),
                _num(r.get("target_total")),
                f"{_num(r.get('covered_before'))} ({pct(r.get('covered_before_pct'))})",
                f"<b>{_num(r.get('covered_after'))} ({pct(r.get('covered_after_pct'))})</b>",
                _bar(
                    finite(r.get("covered_before_pct")) or 0.0,
                    finite(r.get("covered_after_pct")) or 0.0,
                    colours.get(key, "#888"),
                ),
                _num(r.get("uncoverable_residents")),
                _num(r.get("facilities_built")),
                money_cell(r.get("fitout_cost"), lang),
            ]
        )
    return _table(headers, rows)


def _per_area(run: RunOutputs, lang: Lang, colours: dict[str, str]) -> str:
    if "area_type" not in run.inputs.blocks.columns:
        return f'<p class="note">{_e(label("per_area_missing", lang))}</p>'
    table = per_area_table(run)
    names = {"new": label("area_new", lang), "old": label("area_old", lang)}
    headers = [
        (_e(label("facility_type", lang)), False),
        (_e(label("area_type", lang)), False),
        (_e(label("blocks", lang)), True),
        (_e(label("target_total", lang)), True),
        (_e(label("covered_before", lang)), True),
        (_e(label("covered_after", lang)), True),
        (_e(label("coverage_change", lang)), False),
    ]
    rows = [
        [
            _type_cell(run, str(r["facility_type"]), lang, colours),
            _e(names.get(str(r["area_type"]), r["area_type"] or label("area_unknown", lang))),
            _num(r["blocks"]),
            _num(r["target_total"]),
            f"{_num(r['covered_before'])} ({pct(r['covered_before_pct'])})",
            f"<b>{_num(r['covered_after'])} ({pct(r['covered_after_pct'])})</b>",
            _bar(
                finite(r["covered_before_pct"]) or 0.0,
                finite(r["covered_after_pct"]) or 0.0,
                colours.get(str(r["facility_type"]), "#888"),
            ),
        ]
        for r in _records(table)
    ]
    return _table(headers, rows)


def _coverage_section(run: RunOutputs, lang: Lang, colours: dict[str, str]) -> str:
    note = (
        "服务人口按设施容量计：街区需求只有部分被满足时按比例计入。"
        if lang == "zh"
        else "Residents served count capacity: a block whose need is met in part counts in "
        "proportion."
    )
    return (
        f'<section id="coverage"><h2>{_e(label("per_type", lang))}</h2>'
        f'{_per_type(run, lang, colours)}<p class="note">{_e(note)}</p>'
        f"<h3>{_e(label('per_area', lang))}</h3>{_per_area(run, lang, colours)}</section>"
    )


def _maps_section(run: RunOutputs, figures: Figures, lang: Lang) -> str:
    parts = [f'<section id="maps"><h2>{_e(label("maps", lang))}</h2>']
    if figures.font_missing:
        parts.append(f'<div class="callout">{_e(label("font_warning", lang))}</div>')
    order = ["sites", *[f"coverage_{k}" for k in run.types], "uncovered", "service_areas"]
    method_note = _service_area_note(run, lang)
    for name in order:
        if name not in figures.images:
            continue
        caption = figures.captions.get(name, name)
        if name.startswith("coverage_"):
            key = name.removeprefix("coverage_")
            caption = f"{type_label(run.ftype(key), key, lang)} — {caption}"
        if name == "service_areas":
            caption = f"{caption}. {method_note}"
        parts.append(
            f"<figure>{_img(figures.images[name], caption, f'map-{name}')}"
            f'<figcaption>{_e(caption)} · <span class="mono">maps/{_e(name)}.png</span>'
            "</figcaption></figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def _service_area_note(run: RunOutputs, lang: Lang) -> str:
    mode = service_area_method(run)
    zh = lang == "zh"
    if mode == "network":
        return (
            "服务范围为沿道路步行距离上限内可达的街道（两侧各 25 米）。"
            if zh
            else "Service areas: the streets reachable within each type's walking limit, 25 m "
            "either side."
        )
    if mode == "table":
        return (
            "服务范围为各设施所服务街区的外包络（距离表不含路径几何）。"
            if zh
            else "Service areas: the hull of the blocks each facility serves (a distance table "
            "has no path geometry)."
        )
    return (
        "服务范围为半径 = 步行距离上限 ÷ 绕行系数 的圆。"
        if zh
        else "Service areas: circles of radius walking limit / detour factor."
    )


def _year_title(year: str, lang: Lang) -> str:
    if year.lstrip("-").isdigit():
        return f"{year} 年" if lang == "zh" else year
    if year == "":
        return label("year_none", lang)
    return (
        "全部规划期"
        if lang == "zh" and year == "plan"
        else ("whole plan" if year == "plan" else year)
    )


def _year_summary(run: RunOutputs, lang: Lang) -> str:
    years = year_totals(run)
    unit = money_unit(lang)
    has_budget = years["budget"].notna().any()
    headers = [
        (_e(label("year", lang)), False),
        (_e(label("sites_opened", lang)), True),
        (_e(label("facilities_built", lang)), True),
        (_e(f"{label('cost', lang)} ({unit})"), True),
    ]
    if has_budget:
        headers += [
            (_e(f"{label('budget', lang)} ({unit})"), True),
            (_e(label("budget_use", lang)), True),
        ]
    rows = []
    for r in _records(years):
        row = [
            _e(_year_title(str(r["year"]), lang)),
            _num(r["sites"]),
            _num(r["facilities"]),
            money_cell(r["cost"], lang),
        ]
        if has_budget:
            budget = finite(r["budget"])
            spent = finite(r["spent"]) if finite(r["spent"]) is not None else finite(r["cost"])
            row += [
                money_cell(budget, lang),
                pct(100 * spent / budget) if budget and spent is not None else "—",
            ]
        rows.append(row)
    total = [
        f"<b>{_e(label('total', lang))}</b>",
        _num(run.construction_list["site_id"].nunique()),
        _num(len(run.construction_list)),
        f"<b>{money_cell(float(run.construction_list['cost'].sum()), lang)}</b>",
    ]
    if has_budget:
        total += [money_cell(float(years["budget"].fillna(0).sum()), lang), ""]
    rows.append(total)
    note = "" if has_budget else f'<p class="note">{_e(label("no_budget", lang))}</p>'
    return _table(headers, rows) + note


def _list_section(run: RunOutputs, figures: Figures, lang: Lang, colours: dict[str, str]) -> str:
    cl = run.construction_list
    unit = money_unit(lang)
    parts = [f'<section id="list"><h2>{_e(label("construction_list", lang))}</h2>']
    parts.append(_year_summary(run, lang))
    if "cost_coverage" in figures.images:
        caption = f"{label('map_curve', lang)}: {label('curve_note', lang)}"
        parts.append(_figure(figures.images["cost_coverage"], caption, "chart-cost-coverage"))
    parts.append(f'<p class="note">{_e(label("construction_list_note", lang))}</p>')
    parts.append(_cost_flag_note(run, lang))
    headers = [
        (_e(label("rank", lang)), True),
        (_e(label("site", lang)), False),
        (_e(label("facility_type", lang)), False),
        (_e(label("floor_area", lang)), True),
        (_e(label("capacity", lang)), True),
        (_e(f"{label('cost', lang)} ({unit})"), True),
        (_e(label("newly_covered", lang)), True),
        (_e(f"{label('cost_per_resident', lang)} ({label('per_resident', lang)})"), True),
        (_e(f"{label('cumulative_cost', lang)} ({unit})"), True),
        (_e(label("cumulative_coverage", lang)), True),
    ]
    budgets = run.summary.get("budgets") or {}
    keys = cl["year"].map(lambda y: "" if y is None or pd.isna(y) else str(int(y)))
    for year, rows in cl.groupby(keys, sort=True):
        b = budgets.get(str(year)) or {}
        budget_text = ""
        if b.get("budget") is not None:
            budget_text = (
                f" · {label('budget', lang)} {money(b.get('budget'), lang)}"
                f" · {label('spent', lang)} {money(b.get('spent'), lang)}"
            )
        parts.append(
            f"<h3>{_e(_year_title(str(year), lang))} · {rows['site_id'].nunique()} "
            f"{_e(label('sites_opened', lang))} · {len(rows)} {_e(label('facilities_built', lang))}"
            f" · {_e(money(float(rows['cost'].sum()), lang))}{_e(budget_text)}</h3>"
        )
        parts.append(_list_table(run, rows, headers, lang, colours, ident=f"list-{year or 'none'}"))
    parts.append("</section>")
    return "".join(parts)


def _list_table(
    run: RunOutputs,
    rows: pd.DataFrame,
    headers: list[tuple[str, bool]],
    lang: Lang,
    colours: dict[str, str],
    ident: str,
) -> str:
    body = []
    for r in _records(rows):
        key = str(r["facility_type"])
        t = run.ftype(key)
        unit = unit_label(t.capacity_unit, lang) if t is not None else ""
        badge = (
            f' <span class="badge key">{_e(label("essential", lang))}</span>'
            if r.get("essential") is True or r.get("essential") == 1
            else ""
        )
        if r.get("cost_flag") is True or r.get("cost_flag") == 1:
            badge += f' <span class="badge warn cost-flag">{_e(label("cost_flag", lang))}</span>'

        site = (
            f"<b>{_e(r['site_id'])}</b> {_e(r.get('site_name'))}{badge}"
            f'<div class="reason">{_e(_say(run, r.get("reason"), lang))}</div>'
        )
        cells = [
            _num(r["rank"]),
            site,
            _type_cell(run, key, lang, colours, short=True),
            _num(r["floor_area_m2"], 1),
            f"{_num(r['capacity'], 0)} {_e(unit)}",
            money_cell(r["cost"], lang),
            _num(r["newly_covered"]),
            _num(r.get("cost_per_resident")),
            money_cell(r["cumulative_cost"], lang),
            pct(r["cumulative_coverage_pct"], 2),
        ]
        body.append(
            "<tr>"
            + "".join(
                f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
                for c, (_, n) in zip(cells, headers, strict=True)
            )
            + "</tr>"
        )
    head = "".join(f'<th class="n">{h}</th>' if n else f"<th>{h}</th>" for h, n in headers)
    return (
        f'<table id="{_e(ident)}" class="list"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cost_flag_note(run: RunOutputs, lang: Lang) -> str:
    """How rows are flagged for their cost per resident, with each type's threshold."""
    flags = run.summary.get("cost_flags") or {}
    if not flags:
        return ""
    unit = label("per_resident", lang)
    thresholds = LIST_SEPARATORS[lang].join(
        f"{short_type_label(run.ftype(k), k, lang)} {_num(v)} {unit}"
        for k, v in (flags.get("thresholds") or {}).items()
    )
    text = label(
        "cost_flag_note",
        lang,
        pct=float(flags.get("percentile") or 0),
        flagged=int(flags.get("flagged") or 0),
        thresholds=thresholds or "—",
    )
    return f'<p class="note">{_e(text)}</p>'


def _comparison_section(
    run: RunOutputs, comparison: pd.DataFrame, figures: Figures, lang: Lang
) -> str:
    """A sweep's comparison: the table as given (money columns formatted, residents whole)
    and its curve."""
    money_cols = {"budget", "cost", "cost_used"}
    # residents are counted whole: per type, their sum over types, the distinct head count
    people_cols = {"services_covered", "distinct_residents_covered"}
    people_cols |= {c for c in comparison.columns if str(c).startswith("covered:")}
    names = _names(run, lang)
    headers = [
        (_e(column_name(str(c), lang, names)), pd.api.types.is_numeric_dtype(comparison[c]))
        for c in comparison.columns
    ]
    rows = []
    for r in _records(comparison):
        row = []
        for col, value in r.items():
            if col in money_cols:
                row.append(money_cell(value, lang))
            elif col == "gap":
                row.append(_gap(value))
            elif col in people_cols:
                row.append(_num(value, 0))
            elif isinstance(value, float):
                row.append(_num(value, 2))
            else:
                row.append(_e(value))
        rows.append(row)
    figure = ""
    if "coverage_budget" in figures.images:
        caption = label("comparison", lang)
        figure = _figure(figures.images["coverage_budget"], caption, "chart-coverage-budget")
    return (
        f'<section id="comparison"><h2>{_e(label("comparison", lang))}</h2>{figure}'
        f"{_table(headers, rows)}</section>"
    )


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _assumptions(run: RunOutputs, lang: Lang, colours: dict[str, str]) -> str:
    s = run.summary
    parts = [f'<section id="assumptions"><h2>{_e(label("assumptions", lang))}</h2>']
    parts.append(f"<h3>{_e(label('standards', lang))}</h3>")
    headers = [
        (_e(label("facility_type", lang)), False),
        (_e(label("level", lang)), False),
        (_e(label("target_group", lang)), False),
        (_e(label("walk_limit", lang)), True),
        (_e(label("need_rule", lang)), False),
        (_e(label("size_range", lang)), True),
        (_e(label("standard_sizes", lang)), True),
        (_e(label("fitout_rule", lang)), True),
        (_e(label("priority", lang)), True),
    ]
    rows, sources = [], []
    for key in run.types:
        t = run.ftype(key)
        if t is None:
            continue
        rows.append(
            [
                _type_cell(run, key, lang, colours),
                _e(level_label(t.level, lang)),
                _e(group_label(t.target_group, lang)),
                f"{t.walk_limit_m:g} m",
                _e(need_text(t, lang)),
                f"{t.min_area_m2:g}–{t.max_area_m2:g}",
                _e(size_text(t, lang)),
                _e(fitout_text(t, lang)),
                f"{t.priority:g}",
            ]
        )
        items = "".join(
            f"<li><code>{_e(k)}</code>: {_e(v)}</li>" for k, v in type_sources(t, lang).items()
        )
        sources.append(f"<li><b>{_e(type_label(t, key, lang))}</b><ul>{items}</ul></li>")
    parts.append(_table(headers, rows))
    if sources:
        parts.append(
            f"<details open><summary>{_e(label('sources', lang))}</summary>"
            f'<ul class="small">{"".join(sources)}</ul></details>'
        )
    mode = str(s.get("distance_mode"))
    mode_name = label(f"mode_{mode}", lang) if mode in ("network", "euclidean", "table") else mode
    distance = [
        (label("distance_mode", lang), f"<b>{_e(mode_name)}</b> (<code>{_e(mode)}</code>)"),
        ("", _e(distance_text(run.summary, run.engine, lang))),
    ]
    if s.get("detour_factor") is not None:
        distance.append((label("detour_factor", lang), _e(s.get("detour_factor"))))
    parts.append(f"<h3>{_e(label('distance', lang))}</h3>{_kv(distance)}")
    parts.append(f"<h3>{_e(label('costs', lang))}</h3><p>{_e(label('cost_rule', lang))}</p>")
    parts.append(_solver_block(run, lang))
    parts.append(_run_block(run, lang))
    parts.append("</section>")
    return "".join(parts)


def _solver_block(run: RunOutputs, lang: Lang) -> str:
    s = run.summary
    _, status = status_html(s, lang)
    verify = s.get("verify") or {}
    passed = verify.get("passed")
    verdict = (
        f'<span class="badge ok">{_e(label("verify_passed", lang))}</span>'
        if passed
        else f'<span class="badge bad">{_e(label("verify_failed", lang))}</span>'
    )
    checks = "".join(f"<li>{_e(_say(run, c, lang))}</li>" for c in verify.get("checks") or [])
    build, solve = ("建模", "求解") if lang == "zh" else ("build", "solve")
    pairs = [
        (label("model", lang), _e(_say(run, s.get("model"), lang))),
        (label("solver", lang), _e(s.get("solver"))),
        (label("status", lang), status),
        (label("objective", lang), _e(_num(s.get("objective"), 4))),
        (label("bound", lang), _e(_num(s.get("bound"), 4))),
        (
            label("time_s", lang),
            _e(f"{build} {_num(s.get('build_s'), 2)} · {solve} {_num(s.get('solve_s'), 2)}"),
        ),
        (
            label("verify", lang),
            verdict
            + (
                f"<details><summary>{_e(label('checks', lang, n=len(verify.get('checks') or [])))}"
                "</summary>"
                f'<ul class="small">{checks}</ul></details>'
                if checks
                else ""
            ),
        ),
    ]
    phases = s.get("phases") or []
    table = ""
    if phases:
        table = f"<h3>{_e(label('phases', lang))}</h3>" + _table(
            [
                (_e(label("objective", lang)), False),
                (_e(label("status", lang)), False),
                (_e(label("gap_header", lang)), True),
                (_e(label("time_s", lang)), True),
            ],
            [
                [
                    _e(phase_label(str(p.get("objective")), lang)),
                    _e(status_word(str(p.get("status")), lang)),
                    _gap(p.get("gap")),
                    _num(p.get("solve_s"), 2),
                ]
                for p in phases
            ],
        )
    return f"<h3>{_e(label('solver', lang))}</h3>{_kv(pairs)}{table}"


def _run_block(run: RunOutputs, lang: Lang) -> str:
    s = run.summary
    counts = s.get("counts") or {}
    inputs = "".join(
        f'<li><code>{_e(path)}</code><br><span class="mono">{_e(digest)}</span></li>'
        for path, digest in (s.get("inputs") or {}).items()
    )
    timings = " · ".join(
        f"{timing_label(k, lang)} {_num(v, 2)}"
        for k, v in _flat_timings(s.get("timings") or {}).items()
    )
    pairs = [
        (label("run_id", lang), f'<span class="mono">{_e(run.run_id)}</span>'),
        (label("scenario", lang), _e(f"{s.get('scenario')} ({run.scenario.path})")),
        (label("created", lang), _e(s.get("created"))),
        (label("version", lang), _e(f"siting {s.get('version')}")),
        (label("crs", lang), _e(s.get("crs"))),
        (
            label("counts", lang),
            _e(
                label(
                    "counts_text",
                    lang,
                    blocks=_num(counts.get("blocks")),
                    sites=_num(counts.get("sites")),
                    existing=_num(counts.get("existing")),
                )
            ),
        ),
        (label("timings", lang), _e(timings)),
        (label("inputs", lang), f'<ul class="small">{inputs}</ul>'),
    ]
    return f"<h3>{_e(label('run', lang))}</h3>{_kv(pairs)}"


# --------------------------------------------------------------------------- the page


def render_report(
    run: RunOutputs,
    figures: Figures,
    lang: Lang,
    comparison: pd.DataFrame | None = None,
) -> str:
    """The whole report as one HTML string.

    Parameters
    ----------
    run : RunOutputs
        The run's tables, summary and inputs.
    figures : Figures
        Maps and charts from :func:`optimizer.deliverables.maps.render_all`.
    lang : {"zh", "en"}
    comparison : DataFrame, optional
        A sweep's comparison table (one row per budget scenario, e.g. ``budget``, ``cost``,
        ``coverage_pct``, ``coverage_pct:<type>``, ``sites``, ``status``, ``gap``): adds a
        section with the table and the coverage-budget curve (``figures['coverage_budget']``).
    """
    colours = type_colours(run.types)
    body = [
        _cover(run, lang),
        _toc(lang, comparison is not None),
        _headline(run, lang),
        _coverage_section(run, lang, colours),
        _maps_section(run, figures, lang),
        _list_section(run, figures, lang, colours),
    ]
    if comparison is not None:
        body.append(_comparison_section(run, comparison, figures, lang))
    body.append(_assumptions(run, lang, colours))
    body.append(
        f"<footer>{_e(label('generated_by', lang, version=run.summary.get('version')))} · "
        f"{_e(run.summary.get('created'))} · {_e(run.run_id)}</footer>"
    )
    files = resources.files("optimizer.deliverables").joinpath("templates")
    page = Template(files.joinpath("report.html").read_text(encoding="utf-8"))
    return page.substitute(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=_e(f"{label('title', lang)} — {run.summary.get('scenario')}"),
        version=_e(run.summary.get("version")),
        css=files.joinpath("report.css").read_text(encoding="utf-8"),
        body="\n".join(body),
    )
