"""``explore.html``: a plan (or a sweep) as one interactive page that opens offline.

Built with Bokeh and its inline resources (:data:`bokeh.resources.INLINE`): all script and data
are in the file, nothing is requested. The page holds

- a map in the plan's CRS (pan, zoom): blocks coloured by coverage of one type before or after
  the plan, streets, existing facilities and the chosen sites coloured by year; hovering a site
  shows its construction-list rows, clicking a block says who serves it and the walk;
- the construction list as a sortable table filtered by type and by a search text, linked both
  ways with the map (a selected row highlights its site; a site selected on the map selects all
  its rows);
- for a sweep, a budget slider and one selector per other swept setting that switch the map,
  list and totals between scenarios, the coverage-budget curve with the shown scenario marked,
  and "what the extra money buys": sites added and residents newly served between two budgets.

Every table is sent once (:mod:`.explore_data`); views filter them with ``CDSView``. The models
the page's script and the browser test drive have names (:data:`NAMES`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady
from bokeh.layouts import column, row
from bokeh.models import (
    BooleanFilter,
    CDSView,
    ColumnDataSource,
    CustomJS,
    HoverTool,
    IndexFilter,
    LinearColorMapper,
    TapTool,
)
from bokeh.models.formatters import NumeralTickFormatter
from bokeh.models.renderers.glyph_renderer import GlyphRenderer
from bokeh.models.widgets.groups import RadioButtonGroup
from bokeh.models.widgets.inputs import Select, TextInput
from bokeh.models.widgets.markups import Div
from bokeh.models.widgets.sliders import Slider
from bokeh.models.widgets.tables import DataTable, NumberFormatter, TableColumn
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from bokeh.resources import INLINE
from bokeh.transform import transform

from optimizer.deliverables.explore_data import (
    STATES,
    ScenarioPlan,
    block_columns,
    coverage_columns,
    existing_columns,
    plan_totals,
    scenario_columns,
    site_columns,
    street_columns,
)
from optimizer.deliverables.labels import Lang, display_names, label, localized, type_label
from optimizer.deliverables.layers import MapLayers, RunOutputs
from optimizer.deliverables.maps import BLOCK_EDGE, CATEGORY_COLOURS, STREET
from optimizer.outputs import atomic_write

log = logging.getLogger(__name__)

NAMES = (
    "blocks",
    "coverage",
    "sites",
    "existing",
    "scenarios",
    "site_filter",
    "table",
    "type_filter",
    "search",
    "cover_type",
    "when",
    "budget",
    "totals",
    "details",
    "block_details",
    "extra_from",
    "extra_to",
    "extra",
    "curve",
    "marker",
    "map",
    "legend",
)
"""Names of the page's models (``Bokeh.documents[0].get_model_by_name``)."""

# words the report has no label for; everything else comes from labels.py
WORDS: dict[str, tuple[str, str]] = {
    "explore_title": ("交互式方案浏览", "Explore the plan"),
    "all_types": ("全部类型", "all types"),
    "search": ("搜索站点编号或名称", "search site id or name"),
    "show_type": ("地图显示的设施类型", "Coverage of"),
    "committed": ("已承诺", "committed"),
    "status_committed": ("已承诺", "committed"),
    "status_proposed": ("拟建", "proposed"),
    "served_by": ("服务设施", "served by"),
    "walk": ("步行距离 (m)", "walk (m)"),
    "click_site": (
        "点击地图上的站点或清单中的行查看详情；点击街区查看其服务设施与步行距离。",
        "Click a site on the map or a row of the list for its details; click a block for who "
        "serves it and the walk.",
    ),
    "extra_title": ("追加投资带来什么", "What the extra money buys"),
    "from_budget": ("从预算", "From budget"),
    "to_budget": ("到预算", "To budget"),
    "sites_added": ("新增站点", "Sites added"),
    "sites_dropped": ("不再选用的站点", "Sites dropped"),
    "newly_served": ("新增服务人口", "Residents newly served"),
    "extra_cost": ("追加投资", "Extra cost"),
    "scenario_shown": ("当前情景", "Scenario shown"),
    "none": ("无", "none"),
    "block": ("街区", "Block"),
    "site_name": ("站点名称", "Site name"),
}


def word(key: str, lang: Lang) -> str:
    """An explore-only word, else a report label."""
    if key in WORDS:
        zh, en = WORDS[key]
        return zh if lang == "zh" else en
    return label(key, lang)


def write_explore(
    path: Path,
    run: RunOutputs,
    layers: MapLayers,
    lang: Lang,
    plans: list[ScenarioPlan] | None = None,
    settings: list[str] | None = None,
    shown: int | None = None,
) -> Path:
    """Write ``explore.html`` atomically and return its path.

    Parameters
    ----------
    path : Path
        Where to write it.
    run, layers : RunOutputs, MapLayers
        The run (scenario, inputs, catalog) and its map geometry.
    lang : {"zh", "en"}
        Language of the labels.
    plans : list of ScenarioPlan, optional
        A sweep's planned scenarios, in its order; default: the run's own plan alone.
    settings : list of str, optional
        The sweep's swept settings other than the budget (columns of ``totals``).
    shown : int, optional
        The scenario shown as the page opens (default: the last).
    """
    html = render_explore(run, layers, lang, plans, settings, shown)
    atomic_write(path, lambda p: p.write_text(html, encoding="utf-8"))
    log.info("explore.html: %.0f KB", len(html.encode()) / 1024)
    return path


def render_explore(
    run: RunOutputs,
    layers: MapLayers,
    lang: Lang,
    plans: list[ScenarioPlan] | None = None,
    settings: list[str] | None = None,
    shown: int | None = None,
) -> str:
    """The page's HTML (see :func:`write_explore`)."""
    from_plan = plans is None
    if plans is None:
        plans = [_own_plan(run)]
    keys = list(settings or [])
    types = list(run.types)
    names = {t: type_label(run.ftype(t), t, lang) for t in types}
    sites_xy = run.inputs.sites.assign(site_id=run.inputs.sites["site_id"].astype(str))
    sites_xy = sites_xy.set_index("site_id")[["x", "y"]]

    blocks = ColumnDataSource(block_columns(layers), name="blocks")
    block_ids = list(blocks.data["block_id"])
    coverage = ColumnDataSource(coverage_columns(plans, block_ids, types), name="coverage")
    site_data = site_columns([_in_words(p, run, lang) for p in plans], sites_xy, names)
    sites = ColumnDataSource(site_data, name="sites")
    existing = ColumnDataSource(existing_columns(layers, names), name="existing")
    scenarios = ColumnDataSource(scenario_columns(plans, types, keys), name="scenarios")
    first = len(plans) - 1 if shown is None else shown
    site_filter = BooleanFilter(
        booleans=[int(s) == first for s in site_data["scenario"]], name="site_filter"
    )

    # ------------------------------------------------------------------ map
    fig = figure(
        name="map",
        match_aspect=True,
        width=820,
        height=640,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        active_scroll="wheel_zoom",
        title=f"{run.scenario.name} · {run.inputs.crs}",
        output_backend="canvas",
    )
    fig.xaxis.visible = fig.yaxis.visible = False
    fig.grid.visible = False
    palette = [CATEGORY_COLOURS[s] for s in STATES]
    colours = LinearColorMapper(palette=palette, low=-0.5, high=len(STATES) - 0.5)
    fill = transform("state", colours)
    block_glyph: GlyphRenderer[Any]
    if "xs" in blocks.data:
        block_glyph = fig.patches(
            "xs", "ys", source=blocks, fill_color=fill, line_color=BLOCK_EDGE, line_width=0.5
        )
    else:
        block_glyph = fig.scatter(
            "x", "y", source=blocks, fill_color=fill, line_color=BLOCK_EDGE, size=7
        )
    block_glyph.selection_glyph = None
    block_glyph.nonselection_glyph = None
    streets = street_columns(layers)
    if streets is not None:
        fig.segment(
            "x0", "y0", "x1", "y1", source=ColumnDataSource(streets), color=STREET, line_width=0.6
        )
    ex_glyph = fig.scatter(
        "x",
        "y",
        source=existing,
        marker="square",
        size=6,
        fill_color="#7f7f7f",
        line_color="white",
        legend_label=label("legend_existing", lang),
    )
    years = sorted({y for y in site_data["year_text"]})
    year_colour = {y: Category10_10[i % 10] for i, y in enumerate(years)}
    sites.data["colour"] = [year_colour[y] for y in site_data["year_text"]]
    site_view = CDSView(filter=site_filter)
    site_glyph = fig.scatter(
        "x",
        "y",
        source=sites,
        view=site_view,
        size=10,
        marker="circle",
        fill_color="colour",
        line_color="#1f3a5f",
        legend_label=label("legend_new", lang),
        **_SELECTED,
    )
    fig.legend.location = "top_left"
    fig.legend.click_policy = "hide"
    fig.add_tools(
        HoverTool(
            renderers=[site_glyph],
            tooltips=[
                (label("site", lang), "@site_id @site_name"),
                (label("year", lang), "@year_text"),
                (label("facility_type", lang), "@type_name"),
                (label("floor_area", lang), "@floor_area_m2{0,0}"),
                (label("capacity", lang), "@capacity{0,0}"),
                (label("cost", lang), "@cost{0,0}"),
                (label("cost_per_resident", lang), "@cost_per_resident{0,0.0}"),
                (label("newly_covered", lang), "@newly_covered{0,0}"),
                (label("essential", lang), "@essential"),
                (label("status", lang), "@status"),
                (label("reason", lang), "@reason"),
            ],
        ),
        HoverTool(
            renderers=[ex_glyph],
            tooltips=[
                (label("legend_existing", lang), "@facility_id @name"),
                (label("facility_type", lang), "@type_name"),
                (label("capacity", lang), "@capacity{0,0}"),
            ],
        ),
        TapTool(renderers=[site_glyph, block_glyph]),
    )

    # ------------------------------------------------------------------ controls
    type_options: list[str | tuple[Any, str]] = list(names.items())
    type_filter = Select(
        name="type_filter",
        title=label("facility_type", lang),
        value="",
        options=[("", word("all_types", lang)), *type_options],
        width=200,
    )
    search = TextInput(name="search", title=word("search", lang), value="", width=220)
    cover_type = Select(
        name="cover_type",
        title=word("show_type", lang),
        value=types[0] if types else "",
        options=type_options,
        width=280,
    )
    when = RadioButtonGroup(
        name="when", labels=[label("before", lang), label("after", lang)], active=1
    )
    totals = Div(name="totals", width=360)
    details = Div(name="details", width=360, text=f"<p>{word('click_site', lang)}</p>")
    block_details = Div(name="block_details", width=360)

    table = _site_table(sites, site_filter, lang)

    # ------------------------------------------------------------------ sweep
    budget_column = np.asarray(scenarios.data["budget"], dtype=float)
    budgets = sorted({float(b) for b in budget_column if b == b})  # NaN: no budget
    swept = not from_plan and len(budgets) > 1
    shown_budget = float(budget_column[first])
    budget = Slider(
        name="budget",
        title=label("budget", lang),
        start=0,
        end=max(len(budgets) - 1, 1),
        step=1,
        value=budgets.index(shown_budget) if shown_budget in budgets else 0,
        width=400,
        visible=swept,
        show_value=False,
    )
    selectors = []
    for k in keys:
        values = list(dict.fromkeys(scenarios.data[f"set:{k}"]))
        selectors.append(
            Select(
                name=f"set:{k}",
                title=k,
                value=scenarios.data[f"set:{k}"][first],
                options=values,
                width=200,
            )
        )
    marker = IndexFilter(indices=[first], name="marker")
    curve = None
    extra_from = Select(name="extra_from", title=word("from_budget", lang), width=200)
    extra_to = Select(name="extra_to", title=word("to_budget", lang), width=200)
    extra = Div(name="extra", width=560)
    if not from_plan:
        labels = list(scenarios.data["label"])
        extra_from.options = labels
        extra_to.options = labels
        extra_from.value = labels[0]
        extra_to.value = labels[-1]
        curve = _curve(scenarios, marker, bool(keys), lang)

    # ------------------------------------------------------------------ script
    texts = {
        k: word(k, lang)
        for k in (
            "budget",
            "total_cost",
            "sites_opened",
            "facilities_built",
            "coverage_mean",
            "scenario_shown",
            "served_by",
            "walk",
            "block",
            "sites_added",
            "sites_dropped",
            "newly_served",
            "extra_cost",
            "none",
            "site",
            "facility_type",
            "capacity",
            "cost",
            "cost_per_resident",
            "newly_covered",
            "reason",
            "essential",
            "committed",
            "status",
            "before",
            "after",
            "year",
            "floor_area",
        )
    }
    texts |= {f"state_{s}": label(f"legend_{s}", lang) for s in STATES}
    config = {
        "types": types,
        "type_names": names,
        "budgets": budgets,
        "keys": keys,
        "words": texts,
        "swept": swept,
        "zh": lang == "zh",
    }
    models: dict[str, Any] = {
        "blocks": blocks,
        "coverage": coverage,
        "sites": sites,
        "scenarios": scenarios,
        "site_filter": site_filter,
        "type_filter": type_filter,
        "search": search,
        "cover_type": cover_type,
        "when": when,
        "budget": budget,
        "selectors": selectors,
        "marker": marker,
        "totals": totals,
        "details": details,
        "block_details": block_details,
        "extra_from": extra_from,
        "extra_to": extra_to,
        "extra": extra,
    }
    update = CustomJS(args=models, code=_js(config, "update(true);"))
    for widget, prop in (
        (type_filter, "value"),
        (search, "value"),
        (cover_type, "value"),
        (when, "active"),
        (budget, "value"),
        *((s, "value") for s in selectors),
    ):
        widget.js_on_change(prop, update)
    sites.selected.js_on_change("indices", CustomJS(args=models, code=_js(config, "pick();")))
    blocks.selected.js_on_change("indices", CustomJS(args=models, code=_js(config, "blockInfo();")))
    compare = CustomJS(args=models, code=_js(config, "compare();"))
    extra_from.js_on_change("value", compare)
    extra_to.js_on_change("value", compare)

    # the block colours as the page opens; the totals and the comparison are filled in by the
    # same script as every change, when the document is ready
    _initial_state(blocks, coverage, first)

    controls = row(type_filter, search, cover_type, column(Div(text="&nbsp;"), when))
    legend = Div(name="legend", width=360, text=_legend_html(lang, year_colour))
    side = column(legend, totals, details, block_details)
    parts: list[Any] = [
        Div(text=f"<h2>{label('title', lang)} · {word('explore_title', lang)}</h2>"),
    ]
    if swept or selectors:
        parts.append(row(budget, *selectors))
    parts += [controls, row(fig, side), table]
    if curve is not None:
        parts.append(
            row(
                curve,
                column(
                    Div(text=f"<h3>{word('extra_title', lang)}</h3>"),
                    row(extra_from, extra_to),
                    extra,
                ),
            )
        )
    title = f"{label('title', lang)} · {word('explore_title', lang)} · {run.scenario.name}"
    doc = Document()
    doc.add_root(column(*parts))
    doc.js_on_event(
        DocumentReady, CustomJS(args=models, code=_js(config, "update(false); compare();"))
    )
    html = file_html(doc, resources=INLINE, title=title)
    return html.replace('<html lang="en">', f'<html lang="{"zh-CN" if lang == "zh" else "en"}">')


def _site_table(sites: ColumnDataSource, site_filter: BooleanFilter, lang: Lang) -> DataTable:
    """The construction list: sortable, filtered by the same filter as the map's sites."""
    num = NumberFormatter(format="0,0")
    columns = [
        TableColumn(field="rank", title=label("rank", lang), width=40),
        TableColumn(field="year_text", title=label("year", lang), width=50),
        TableColumn(field="site_id", title=label("site", lang), width=70),
        TableColumn(field="site_name", title=word("site_name", lang), width=160),
        TableColumn(field="type_name", title=label("facility_type", lang), width=170),
        TableColumn(
            field="floor_area_m2", title=label("floor_area", lang), formatter=num, width=90
        ),
        TableColumn(field="capacity", title=label("capacity", lang), formatter=num, width=70),
        TableColumn(field="cost", title=label("cost", lang), formatter=num, width=90),
        TableColumn(
            field="cost_per_resident",
            title=label("cost_per_resident", lang),
            formatter=NumberFormatter(format="0,0.0"),
            width=90,
        ),
        TableColumn(
            field="newly_covered", title=label("newly_covered", lang), formatter=num, width=90
        ),
        TableColumn(field="essential", title=label("essential", lang), width=60),
        TableColumn(field="status", title=label("status", lang), width=80),
        TableColumn(field="reason", title=label("reason", lang), width=600),
    ]
    table = DataTable(
        name="table",
        source=sites,
        view=CDSView(filter=site_filter),
        columns=columns,
        width=1200,
        height=320,
        sortable=True,
        selectable=True,
        index_position=None,
    )
    return table


def _curve(
    scenarios: ColumnDataSource, marker: IndexFilter, several_settings: bool, lang: Lang
) -> figure:
    """The coverage-budget curve, the scenario shown ringed (``marker`` picks its row); one
    line through the points only when the budget is the one thing swept."""
    curve = figure(
        name="curve",
        width=560,
        height=320,
        title=label("comparison", lang),
        x_axis_label=f"{label('budget', lang)} ({label('unit_wan', lang)})",
        y_axis_label=label("axis_coverage", lang),
        tools="pan,wheel_zoom,reset,save",
    )
    scale = 1e4 if lang == "zh" else 1.0
    scenarios.data["budget_shown"] = np.asarray(scenarios.data["budget"], float) / scale
    curve.scatter("budget_shown", "coverage_pct", source=scenarios, size=8, color="#2c5d8f")
    if not several_settings:
        curve.line("budget_shown", "coverage_pct", source=scenarios, color="#2c5d8f")
    curve.scatter(
        "budget_shown",
        "coverage_pct",
        source=scenarios,
        view=CDSView(filter=marker),
        size=16,
        marker="circle",
        fill_color=None,
        line_color="#e4572e",
        line_width=3,
    )
    curve.xaxis.formatter = NumeralTickFormatter(format="0,0")
    return curve


def _legend_html(lang: Lang, year_colour: dict[str, str]) -> str:
    """The colour key: block coverage states and the sites' years."""

    def swatch(colour: str, text: str, round_: bool = False) -> str:
        radius = "50%" if round_ else "2px"
        return (
            f'<span style="white-space:nowrap"><span style="display:inline-block;width:11px;'
            f"height:11px;background:{colour};border-radius:{radius};margin:0 4px 0 10px;"
            f'vertical-align:middle"></span>{text}</span> '
        )

    states = "".join(swatch(CATEGORY_COLOURS[s], label(f"legend_{s}", lang)) for s in STATES)
    years = "".join(swatch(c, y or label("year_none", lang), True) for y, c in year_colour.items())
    return f'<div style="font-size:12px;line-height:1.8">{states}<br>{years}</div>'


# a selected site stands out: thick black ring; the others fade
_SELECTED: dict[str, Any] = {
    "selection_line_color": "black",
    "selection_line_width": 3,
    "selection_fill_alpha": 1.0,
    "nonselection_fill_alpha": 0.35,
    "nonselection_line_alpha": 0.35,
}


def _own_plan(run: RunOutputs) -> ScenarioPlan:
    totals = plan_totals(run.summary)
    return ScenarioPlan(run.scenario.name, run.construction_list, run.coverage, totals, run.summary)


def _in_words(plan: ScenarioPlan, run: RunOutputs, lang: Lang) -> ScenarioPlan:
    """The plan with its reasons and row statuses in ``lang`` (as the report says them)."""
    if lang == "en":
        return plan
    cl = plan.construction_list
    names = display_names({key: run.ftype(key) for key in run.types}, lang)
    reasons = [localized(r, lang, plan.summary, names) for r in cl.get("reason", [])]
    status = [
        word(f"status_{s}", lang) if f"status_{s}" in WORDS else s
        for s in cl.get("status", pd.Series(dtype=str)).astype(str)
    ]
    changes: dict[str, Any] = {}
    if "reason" in cl.columns:
        changes["reason"] = reasons
    if "status" in cl.columns:
        changes["status"] = status
    return replace(plan, construction_list=cl.assign(**changes))


def _initial_state(blocks: ColumnDataSource, coverage: ColumnDataSource, first: int) -> None:
    """The block colours as the page opens: the first type, after the plan, in the first
    scenario (what the script computes for the same choice)."""
    state = np.array(blocks.data["state"], dtype=np.int8)
    cov = coverage.data
    if len(cov.get("block", [])):
        scenario, ftype = np.asarray(cov["scenario"]), np.asarray(cov["type"])
        sel = (scenario == first) & (ftype == 0)
        state[np.asarray(cov["block"])[sel]] = np.asarray(cov["after"])[sel]
    blocks.data["state"] = state


def _js(config: dict[str, Any], call: str) -> str:
    """A callback's code: the config, the page's functions, then the call."""
    return f"const C = {json.dumps(config, ensure_ascii=False)};\n{_script()}\n{call}"


@cache
def _script() -> str:
    """The page's functions (templates/explore.js)."""
    files = resources.files("optimizer.deliverables").joinpath("templates")
    return files.joinpath("explore.js").read_text(encoding="utf-8")
