"""Static maps and charts of a planning run (PNG, matplotlib's Agg renderer, no pyplot state).

Maps: chosen sites by facility type; coverage before and after, one figure per type; blocks
still not served; service areas. Charts: the cost-coverage curve of the ranked construction
list and, for sweeps, the coverage-budget curve. Every map has a scale bar and a north arrow
and draws the street network faintly when the scenario has one.

Chinese labels need a CJK font: :func:`optimizer.deliverables.fonts.cjk_font` finds one
(``$SITING_CJK_FONT``, then the Noto Sans SC the install ships, then system fonts); without
one the maps fall back to English labels with a logged warning rather than drawing empty boxes.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import shapely
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from numpy.typing import ArrayLike
from PIL import Image

from optimizer.deliverables.fonts import cjk_font
from optimizer.deliverables.labels import Lang, finite, label, type_label
from optimizer.deliverables.layers import MapLayers, RunOutputs
from optimizer.progress import task

log = logging.getLogger(__name__)

TYPE_COLOURS = (
    "#c0392b",
    "#e08e0b",
    "#16808d",
    "#2c5d8f",
    "#7d3c98",
    "#4f8a3a",
    "#a0522d",
    "#c2185b",
)
CATEGORY_COLOURS = {
    "covered": "#3a9e6f",
    "partly": "#f2c14e",
    "not": "#e4572e",
    "unreachable": "#c9c9c9",
    "no_target": "#f4f1ea",
}
BLOCK_FILL, BLOCK_EDGE, STREET = "#f1eee8", "#d5d0c6", "#c8c8c8"
NEW_FACILITY = "#1f3a5f"  # new facilities on coverage maps: apart from the category colours
DPI = 130


@dataclass
class Figures:
    """Rendered PNGs by name, with captions, and what language the maps were labelled in."""

    images: dict[str, bytes] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    map_lang: Lang = "en"
    font_missing: bool = False


# --------------------------------------------------------------------------- fonts


def map_language(lang: Lang) -> tuple[Lang, bool]:
    """The language the maps can be labelled in, and whether a CJK font was missing."""
    if lang != "zh" or cjk_font() is not None:
        return lang, False
    log.warning(
        "no CJK font found for the maps: their labels are in English (install the Debian "
        "package fonts-noto-cjk, or set SITING_CJK_FONT to a font file with Chinese glyphs)"
    )
    return "en", True


@contextmanager
def _style(lang: Lang) -> Iterator[None]:
    family = [cjk_font(), "DejaVu Sans"] if lang == "zh" else ["DejaVu Sans"]
    rc: Any = {
        "font.family": [f for f in family if f],
        "font.size": 9,
        "axes.titlesize": 11,
        "axes.titleweight": "bold",
        "figure.titlesize": 13,
        "figure.titleweight": "bold",
        "legend.frameon": False,
        "legend.fontsize": 8.5,
        "axes.unicode_minus": False,
        "svg.fonttype": "none",
    }
    with mpl.rc_context(rc):
        yield


# --------------------------------------------------------------------------- building blocks


def _png(fig: Figure) -> bytes:
    """The figure as a compact PNG (an adaptive palette of 256 colours)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(
        buf,
        format="png",
        dpi=DPI,
        facecolor="white",
        bbox_inches="tight",
        pad_inches=0.12,
        pil_kwargs={"compress_level": 1},  # decoded again at once: speed over size
    )
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    palette = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _extent(layers: MapLayers) -> tuple[float, float, float, float]:
    boxes = [layers.blocks.total_bounds]
    if len(layers.chosen):
        boxes.append(layers.chosen.total_bounds)
    b = np.array(boxes, dtype=float)
    x0, y0, x1, y1 = np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])
    pad = max(x1 - x0, y1 - y0, 200.0) * 0.03
    # room below the blocks for the scale bar
    return x0 - pad, y0 - 3.5 * pad, x1 + pad, y1 + pad


def _finite_extent(layers: MapLayers) -> bool:
    """Whether the map extent is made of finite numbers (else no map can be sized)."""
    boxes = [layers.blocks.total_bounds]
    if len(layers.chosen):
        boxes.append(layers.chosen.total_bounds)
    return bool(np.isfinite(np.array(boxes, dtype=float)).all())


def _aspect(layers: MapLayers) -> float:
    x0, y0, x1, y1 = _extent(layers)
    return (y1 - y0) / max(x1 - x0, 1e-9)


def _frame(ax: Axes, layers: MapLayers, lang: Lang, scale: bool = True) -> None:
    """Streets, extent, equal aspect, scale bar and north arrow; no axes."""
    x0, y0, x1, y1 = _extent(layers)
    if layers.streets is not None and len(layers.streets):
        # add_artist, not add_patch: the extent is set below, and computing the limits of
        # thousands of segments is slow
        ax.add_artist(
            PathPatch(
                _streets_path(layers.streets), fill=False, edgecolor=STREET, lw=0.35, zorder=1
            )
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if scale:
        _scale_bar(ax, x0, y0, x1, y1)
        _north_arrow(ax, lang)


def _scale_bar(ax: Axes, x0: float, y0: float, x1: float, y1: float) -> None:
    width = x1 - x0
    target = width / 5
    steps = [s * 10**e for e in range(1, 6) for s in (1, 2, 2.5, 5)]
    length = max([s for s in steps if s <= target] or [steps[0]])
    h = (y1 - y0) * 0.008
    bx, by = x0 + width * 0.03, y0 + (y1 - y0) * 0.02
    for i in range(2):
        ax.add_patch(
            Rectangle(
                (bx + i * length / 2, by),
                length / 2,
                h,
                facecolor="#333333" if i == 0 else "white",
                edgecolor="#333333",
                linewidth=0.6,
                zorder=8,
            )
        )
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx, by + 2.2 * h, "0", fontsize=7, ha="center", va="bottom", zorder=8)
    ax.text(bx + length, by + 2.2 * h, text, fontsize=7, ha="center", va="bottom", zorder=8)


def _north_arrow(ax: Axes, lang: Lang) -> None:
    """An arrow pointing north in the lower right corner, in the strip below the blocks."""
    ax.annotate(
        "",
        xy=(0.975, 0.075),
        xytext=(0.975, 0.012),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.2},
        zorder=9,
    )
    ax.text(
        0.958,
        0.04,
        label("north", lang),
        transform=ax.transAxes,
        ha="right",
        va="center",
        fontsize=9,
        fontweight="bold",
        zorder=9,
    )


def _draw_blocks(
    ax: Axes,
    blocks: gpd.GeoDataFrame,
    facecolors: Sequence[str] | str,
    edgecolor: str = BLOCK_EDGE,
    linewidth: float = 0.3,
    zorder: float = 2,
    alpha: float = 1.0,
) -> None:
    """Polygons as patches, points as dots (blocks given as points in CSV inputs)."""
    colours = np.broadcast_to(np.asarray(facecolors, dtype=object), (len(blocks),))
    geoms = blocks.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    poly = np.isin(kinds, (3, 6))
    if poly.any():
        patches = _block_patches(blocks, poly)
        ax.add_collection(
            PatchCollection(
                patches,
                facecolors=list(colours[poly]),
                edgecolors=edgecolor,
                linewidths=linewidth,
                zorder=zorder,
                alpha=alpha,
            )
        )
    pts = ~poly
    if pts.any():
        p = shapely.point_on_surface(geoms[pts])
        ax.scatter(
            shapely.get_x(p),
            shapely.get_y(p),
            s=36,
            c=list(colours[pts]),
            edgecolors="#8a8a8a",
            linewidths=0.4,
            zorder=zorder,
            alpha=alpha,
        )


_PATCH_CACHE: dict[int, tuple[gpd.GeoDataFrame, list[PathPatch]]] = {}


def _streets_path(segments: np.ndarray) -> MplPath:
    """All street segments as one path (drawn far faster than a collection of segments)."""
    n = segments.shape[0]
    codes = np.tile(np.array([MplPath.MOVETO, MplPath.LINETO], dtype=np.uint8), n)
    return MplPath(segments.reshape(-1, 2), codes)


def _block_patches(blocks: gpd.GeoDataFrame, poly: np.ndarray) -> list[PathPatch]:
    """The blocks' polygon patches, built once per blocks table (maps draw them many times)."""
    cached = _PATCH_CACHE.get(id(blocks))
    if cached is None or cached[0] is not blocks:
        _PATCH_CACHE.clear()
        cached = (blocks, [_patch(g) for g in blocks.geometry.to_numpy()[poly]])
        _PATCH_CACHE[id(blocks)] = cached
    return cached[1]


def _patch(geom: shapely.Geometry) -> PathPatch:
    """A (Multi)Polygon with holes as one matplotlib patch."""
    vertices, codes = [], []
    for part in shapely.get_parts(geom):
        for ring in [part.exterior, *part.interiors]:
            xy = np.asarray(ring.coords)
            vertices.append(xy)
            c = np.full(len(xy), MplPath.LINETO, dtype=np.uint8)
            c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            codes.append(c)
    if not vertices:
        return PathPatch(MplPath(np.zeros((1, 2))))
    return PathPatch(MplPath(np.concatenate(vertices), np.concatenate(codes)))


def _draw_areas(
    ax: Axes,
    geoms: Sequence[shapely.Geometry | None],
    colour: str,
    alpha: float,
    zorder: float,
    edge: bool = True,
) -> None:
    patches = [_patch(g) for g in geoms if g is not None and not shapely.is_empty(g)]
    if patches:
        ax.add_collection(
            PatchCollection(
                patches,
                facecolors=colour,
                edgecolors=colour if edge else "none",
                linewidths=0.6,
                alpha=alpha,
                zorder=zorder,
            )
        )


def type_colours(types: Sequence[str]) -> dict[str, str]:
    """A fixed colour per facility type, in the plan's type order."""
    return {t: TYPE_COLOURS[i % len(TYPE_COLOURS)] for i, t in enumerate(types)}


def _per_type_records(run: RunOutputs) -> dict[str, dict[str, Any]]:
    return {
        str(r["facility_type"]): {str(k): v for k, v in r.items()}
        for r in run.per_type.to_dict(orient="records")
    }


def _type_name(run: RunOutputs, key: str, lang: Lang) -> str:
    return type_label(run.ftype(key), key, lang)


# --------------------------------------------------------------------------- maps


def categories(cov: pd.DataFrame, when: str) -> np.ndarray:
    """Per coverage row: covered | partly | not | unreachable | no_target, ``when`` before/after."""
    target = pd.to_numeric(cov["target_population"], errors="coerce").fillna(0.0).to_numpy()
    covered = cov[f"covered_{when}"].fillna(False).astype(bool).to_numpy()
    col = f"served_share_{when}"
    share = (
        pd.to_numeric(cov[col], errors="coerce").fillna(0.0).to_numpy()
        if col in cov.columns
        else covered.astype(float)
    )
    coverable = (
        cov["coverable"].fillna(True).astype(bool).to_numpy()
        if "coverable" in cov.columns
        else np.ones(len(cov), dtype=bool)
    )
    out = np.full(len(cov), "not", dtype=object)
    out[~coverable] = "unreachable"
    out[share > 1e-9] = "partly"
    out[covered] = "covered"
    out[target <= 0] = "no_target"
    return out


def coverage_map(run: RunOutputs, layers: MapLayers, key: str, lang: Lang) -> bytes:
    """Blocks coloured by coverage of one type, before and after the plan, side by side."""
    cov = run.coverage[run.coverage["facility_type"] == key]
    cov = cov.set_index(cov["block_id"].astype(str)).reindex(layers.blocks["block_id"])
    per_type = _per_type_records(run)
    aspect = _aspect(layers)
    fig = Figure(figsize=(11, 5.0 * aspect + 1.6))
    axes = fig.subplots(1, 2)
    for ax, when in zip(axes, ("before", "after"), strict=True):
        cats = categories(cov.reset_index(drop=True).fillna({"target_population": 0}), when)
        _draw_blocks(ax, layers.blocks, [CATEGORY_COLOURS[c] for c in cats], linewidth=0.25)
        _frame(ax, layers, lang, scale=when == "after")
        ex = layers.existing[layers.existing["type"] == key]
        if len(ex):
            ax.scatter(
                ex.geometry.x,
                ex.geometry.y,
                marker="^",
                s=30,
                c="white",
                edgecolors="#222222",
                linewidths=0.9,
                zorder=6,
            )
        if when == "after":
            new = layers.chosen[layers.chosen["facility_type"] == key]
            if len(new):
                ax.scatter(
                    new.geometry.x,
                    new.geometry.y,
                    marker="o",
                    s=22,
                    c=NEW_FACILITY,
                    edgecolors="white",
                    linewidths=0.7,
                    zorder=7,
                )
        value = finite(per_type.get(key, {}).get(f"covered_{when}_pct"))
        title = label(when, lang) + (f" · {value:.1f}%" if value is not None else "")
        ax.set_title(title, loc="left")
    handles: list[Artist] = [
        Patch(facecolor=CATEGORY_COLOURS[c], edgecolor=BLOCK_EDGE, label=label(f"legend_{n}", lang))
        for c, n in (
            ("covered", "covered"),
            ("partly", "partly"),
            ("not", "not"),
            ("unreachable", "unreachable"),
            ("no_target", "no_target"),
        )
    ]
    handles += [
        Line2D(
            [],
            [],
            marker="^",
            ls="",
            mfc="white",
            mec="#222222",
            label=label("legend_existing", lang),
        ),
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            mfc=NEW_FACILITY,
            mec="white",
            ms=7,
            label=label("legend_new", lang),
        ),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=7, bbox_to_anchor=(0.5, 0.0))
    limit = _limit_text(run, key)
    fig.suptitle(
        f"{_type_name(run, key, lang)} — {label('map_coverage', lang)}{limit}", x=0.02, ha="left"
    )
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.1, wspace=0.03)
    return _png(fig)


def _limit_text(run: RunOutputs, key: str) -> str:
    ftype = run.ftype(key)
    return f" ({ftype.walk_limit_m:g} m)" if ftype is not None else ""


def sites_map(run: RunOutputs, layers: MapLayers, lang: Lang) -> bytes:
    """Chosen sites by facility type over the blocks, with existing facilities."""
    colours = type_colours(run.types)
    aspect = _aspect(layers)
    fig = Figure(figsize=(9, 8.2 * aspect + 0.6))
    ax = fig.add_axes((0.01, 0.02, 0.72, 0.92))
    _draw_blocks(ax, layers.blocks, BLOCK_FILL)
    _frame(ax, layers, lang)
    x0, _, x1, _ = _extent(layers)
    r = (x1 - x0) / 260
    if len(layers.existing):
        ex = layers.existing[layers.existing["type"].isin(run.types)]
        ax.scatter(
            ex.geometry.x,
            ex.geometry.y,
            marker="s",
            s=14,
            c="white",
            edgecolors="#555555",
            linewidths=0.7,
            zorder=5,
        )
    n = max(len(run.types), 1)
    handles: list[Artist] = []
    for i, key in enumerate(run.types):
        rows = layers.chosen[layers.chosen["facility_type"] == key]
        angle = 2 * math.pi * i / n + math.pi / 4
        dx, dy = (r * math.cos(angle), r * math.sin(angle)) if n > 1 else (0.0, 0.0)
        if len(rows):
            ax.scatter(
                rows.geometry.x + dx,
                rows.geometry.y + dy,
                s=20,
                c=colours[key],
                edgecolors="white",
                linewidths=0.5,
                zorder=6 + i * 0.01,
            )
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                mfc=colours[key],
                mec="white",
                ms=8,
                label=f"{_type_name(run, key, lang)} ({len(rows)})",
            )
        )
    handles.append(
        Line2D(
            [],
            [],
            marker="s",
            ls="",
            mfc="white",
            mec="#555555",
            ms=6,
            label=label("legend_existing", lang),
        )
    )
    handles.append(
        Patch(facecolor=BLOCK_FILL, edgecolor=BLOCK_EDGE, label=label("legend_blocks", lang))
    )
    if layers.streets is not None:
        handles.append(Line2D([], [], color=STREET, lw=1.2, label=label("legend_streets", lang)))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    n_sites = layers.chosen["site_id"].nunique() if len(layers.chosen) else 0
    ax.set_title(
        f"{label('map_sites', lang)} · {n_sites} {label('sites_opened', lang)}", loc="left"
    )
    return _png(fig)


def uncovered_map(run: RunOutputs, layers: MapLayers, lang: Lang) -> bytes:
    """Blocks coloured by how many facility types still do not serve them after the plan."""
    cov = run.coverage
    target = pd.to_numeric(cov["target_population"], errors="coerce").fillna(0.0)
    missing = cov.assign(_m=(target > 0) & ~cov["covered_after"].fillna(False).astype(bool))
    per_block = missing.groupby(missing["block_id"].astype(str))["_m"].sum()
    count = per_block.reindex(layers.blocks["block_id"]).fillna(0).astype(int).to_numpy()
    n = max(len(run.types), 1)
    cmap = mpl.colormaps["OrRd"]
    shades = {
        k: mpl.colors.to_hex(cmap(0.25 + 0.7 * (k - 1) / max(n - 1, 1))) for k in range(1, n + 1)
    }
    fills = [shades[int(k)] if k > 0 else BLOCK_FILL for k in count]
    aspect = _aspect(layers)
    fig = Figure(figsize=(9, 8.2 * aspect + 0.6))
    ax = fig.add_axes((0.01, 0.02, 0.72, 0.92))
    _draw_blocks(ax, layers.blocks, fills)
    _frame(ax, layers, lang)
    handles = [Patch(facecolor=BLOCK_FILL, edgecolor=BLOCK_EDGE, label="0")]
    handles += [
        Patch(facecolor=shades[k], edgecolor=BLOCK_EDGE, label=f"{k} ({int((count == k).sum())})")
        for k in range(1, n + 1)
    ]
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0,
        title=label("legend_n_types", lang),
        alignment="left",
    )
    ax.set_title(label("map_uncovered", lang), loc="left")
    return _png(fig)


def service_area_map(run: RunOutputs, layers: MapLayers, lang: Lang) -> bytes:
    """Small multiples, one per type: the reach of existing and new facilities."""
    colours = type_colours(run.types)
    n = max(len(run.types), 1)
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    aspect = _aspect(layers)
    width = 11 if ncols == 2 else 7
    fig = Figure(figsize=(width, nrows * (width / ncols) * aspect + 1.2))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).reshape(-1)
    areas = layers.service_areas
    for ax, key in zip(axes, run.types, strict=False):
        _draw_blocks(ax, layers.blocks, BLOCK_FILL, linewidth=0.2)
        _frame(ax, layers, lang, scale=ax is axes[0])
        for kind, colour, alpha in (("existing", "#6d6d6d", 0.35), ("new", colours[key], 0.35)):
            part = areas[(areas["facility_type"] == key) & (areas["kind"] == kind)]
            _draw_areas(ax, list(part.geometry), colour, alpha, zorder=3)
        new = layers.chosen[layers.chosen["facility_type"] == key]
        ax.scatter(new.geometry.x, new.geometry.y, s=6, c=colours[key], zorder=6)
        ex = layers.existing[layers.existing["type"] == key]
        ax.scatter(ex.geometry.x, ex.geometry.y, s=8, marker="^", c="#333333", zorder=6)
        ax.set_title(
            f"{_type_name(run, key, lang)}{_limit_text(run, key)}", loc="left", fontsize=10
        )
    for ax in axes[n:]:
        ax.set_axis_off()
    handles = [
        Patch(facecolor="#6d6d6d", alpha=0.35, label=label("legend_existing_area", lang)),
        *[
            Patch(facecolor=colours[k], alpha=0.45, label=_type_name(run, k, lang))
            for k in run.types
        ],
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(label("map_service_areas", lang), x=0.02, ha="left")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.06, wspace=0.03, hspace=0.08)
    return _png(fig)


# --------------------------------------------------------------------------- charts


class MoneyTicks(mpl.ticker.Formatter):
    """Tick labels with thousands separators and just enough decimals for the tick spacing
    (a small town's budgets of 0.5, 1.0, 1.5 million must not all read "1")."""

    def format_ticks(self, values: ArrayLike) -> list[str]:
        decimals = _decimals_for(values)
        return [f"{v:,.{decimals}f}" for v in np.asarray(values, dtype=float)]

    def __call__(self, x: float, pos: int | None = None) -> str:
        # matplotlib labels ticks through format_ticks; a lone call sees the axis' ticks
        getter = getattr(self.axis, "get_majorticklocs", None)
        locs = getter() if getter is not None else [x]
        return f"{x:,.{_decimals_for(locs)}f}"


def _decimals_for(values: ArrayLike) -> int:
    steps = np.diff(np.sort(np.asarray(values, dtype=float)))
    step = float(steps[steps > 0].min()) if (steps > 0).any() else 1.0
    return 0 if step >= 1 else min(6, math.ceil(-math.log10(step) - 1e-9))


def _cost_scale(lang: Lang) -> float:
    return 1e4 if lang == "zh" else 1e6


def cost_coverage_chart(run: RunOutputs, lang: Lang) -> bytes:
    """Cumulative coverage along the ranked construction list, mean and per type."""
    cl = run.construction_list
    scale = _cost_scale(lang)
    colours = type_colours(run.types)
    base = float(run.summary.get("totals", {}).get("coverage_pct_before") or 0.0)
    fig = Figure(figsize=(9, 4.6))
    ax = fig.add_axes((0.08, 0.13, 0.62, 0.78))
    x = np.r_[0.0, cl["cumulative_cost"].to_numpy(float) / scale]
    per_type = _per_type_records(run)
    for key in run.types:
        if key not in per_type:
            continue
        total = finite(per_type[key].get("target_total")) or 0.0
        before = finite(per_type[key].get("covered_before_pct")) or 0.0
        gained = np.where(cl["facility_type"] == key, cl["newly_covered"].to_numpy(float), 0.0)
        y = before + 100 * np.r_[0.0, np.cumsum(gained)] / max(total, 1e-12)
        ax.step(
            x,
            y,
            where="post",
            lw=1.1,
            color=colours[key],
            alpha=0.85,
            label=_type_name(run, key, lang),
        )
    y_mean = np.r_[base, cl["cumulative_coverage_pct"].to_numpy(float)]
    ax.step(x, y_mean, where="post", lw=2.6, color="#222222", label=label("coverage_mean", lang))
    years = cl["year"].astype("Int64")
    if years.nunique(dropna=True) > 1:
        ends = cl.groupby(years, sort=True)["cumulative_cost"].max() / scale
        for year, end in ends.iloc[:-1].items():
            ax.axvline(float(end), color="#999999", lw=0.8, ls="--")
            ax.text(
                float(end), 1.5, f" {year}", color="#666666", fontsize=8, rotation=90, va="bottom"
            )
    ax.xaxis.set_major_formatter(MoneyTicks())
    ax.set_xlabel(label("axis_cost", lang))
    ax.set_ylabel(label("axis_coverage", lang))
    ax.set_ylim(0, 100)
    ax.set_xlim(0, max(float(x[-1]), 1e-9) * 1.02)
    ax.grid(True, color="#e6e6e6", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.set_title(label("map_curve", lang), loc="left")
    return _png(fig)


def comparison_chart(comparison: pd.DataFrame, run: RunOutputs, lang: Lang) -> bytes:
    """The coverage-budget curve of a sweep: coverage (mean and per type) against budget.

    ``comparison`` needs ``budget`` and ``coverage_pct`` columns; ``coverage_pct:<type>``
    columns add one line per type.
    """
    df = comparison.sort_values("budget")
    scale = _cost_scale(lang)
    colours = type_colours(run.types)
    fig = Figure(figsize=(9, 4.6))
    ax = fig.add_axes((0.08, 0.13, 0.62, 0.78))
    x = df["budget"].to_numpy(float) / scale
    for key in run.types:
        col = f"coverage_pct:{key}"
        if col in df.columns:
            ax.plot(
                x,
                df[col].to_numpy(float),
                marker="o",
                ms=3,
                lw=1.1,
                color=colours[key],
                label=_type_name(run, key, lang),
            )
    ax.plot(
        x,
        df["coverage_pct"].to_numpy(float),
        marker="o",
        lw=2.6,
        color="#222222",
        label=label("coverage_mean", lang),
    )
    ax.xaxis.set_major_formatter(MoneyTicks())
    ax.set_xlabel(label("axis_budget", lang))
    ax.set_ylabel(label("axis_coverage", lang))
    ax.set_ylim(0, 100)
    ax.grid(True, color="#e6e6e6", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    ax.set_title(label("comparison", lang), loc="left")
    return _png(fig)


# --------------------------------------------------------------------------- all of them


def render_all(run: RunOutputs, layers: MapLayers, lang: Lang) -> Figures:
    """Every map and chart of a run, as PNG bytes keyed by file name (without ``.png``)."""
    draw_lang, missing = map_language(lang)
    jobs: list[tuple[str, str, Callable[[], bytes]]] = [
        ("sites", "map_sites", lambda: sites_map(run, layers, draw_lang)),
        *[
            (
                f"coverage_{key}",
                "map_coverage",
                (lambda k=key: coverage_map(run, layers, k, draw_lang)),
            )
            for key in run.types
        ],
        ("uncovered", "map_uncovered", lambda: uncovered_map(run, layers, draw_lang)),
        ("service_areas", "map_service_areas", lambda: service_area_map(run, layers, draw_lang)),
        ("cost_coverage", "map_curve", lambda: cost_coverage_chart(run, draw_lang)),
    ]
    comparison = run.comparison
    if comparison is not None and {"budget", "coverage_pct"} <= set(comparison.columns):
        jobs.append(
            (
                "coverage_budget",
                "comparison",
                lambda: comparison_chart(comparison, run, draw_lang),
            )
        )
    if not _finite_extent(layers):
        # e.g. lon/lat swapped upstream: a NaN extent would crash matplotlib's figure size
        log.warning("maps skipped: the blocks' or sites' coordinates are not finite numbers")
        jobs = [job for job in jobs if not job[1].startswith("map_") or job[1] == "map_curve"]
    figures = Figures(map_lang=draw_lang, font_missing=missing)
    with _style(draw_lang), task("maps", total=len(jobs)) as advance:
        for name, caption, draw in jobs:
            figures.images[name] = draw()
            figures.captions[name] = label(caption, lang)
            advance(1)
    return figures
