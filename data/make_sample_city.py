"""Generate a synthetic, Dezhou-like urban district for the facility-siting optimizer.

The district is invented. It is shaped after a mid-sized city in Shandong (Dezhou, about
116.3 E, 37.4 N): an old town of small, older compounds near the centre, newer and larger
compounds towards the edge, an irregular street grid, a river that can be crossed only at a few
bridges and a railway that can be crossed only at a few level crossings or underpasses.
Demography follows the 7th-census defaults in ``shared/STANDARDS.md`` (361 households and 207
residents aged 60+ per 1000 residents, 20-23 aged 0-2 and 27-30 aged 3-5 per 1000), with the
old town older and the new districts younger. Costs are assumptions, documented in
``data/README.md``.

Layers (all in EPSG:4548, CGCS2000 / 3-degree Gauss-Kruger CM 117E, metres):

``blocks``
    residential compounds (小区), polygons, with population and age groups;
``sites``
    candidate sites for new facilities, points, with floor area and costs;
``existing``
    facilities already serving residents, points, with capacity;
``streets``
    the walkable network, one LineString per edge, noded at every junction;
``river`` and ``rail``
    the barriers the network crosses only at bridges and crossings.

The generator is deterministic: the same ``residents`` and ``seed`` give identical tables.
The district's extent grows with ``residents`` (6 km x 5 km at 300,000 residents), so
blocks, sites, existing facilities and streets scale in proportion.

Usage::

    python data/make_sample_city.py [--residents 300000] [--seed 20261122]
                                    [--out data/sample_city.gpkg]

From Python (this folder is not a package; load the file with importlib)::

    layers = generate_city(residents=300_000, seed=20261122)
    write_city(layers, "data/sample_city.gpkg")
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

LOG = logging.getLogger("make_sample_city")

CRS = "EPSG:4548"
"""CGCS2000 / 3-degree Gauss-Kruger CM 117E (metres)."""

CENTRE_X, CENTRE_Y = 440_000.0, 4_145_000.0
"""District centre in EPSG:4548: about 116.3 E, 37.45 N (Dezhou)."""

DEFAULT_RESIDENTS = 300_000
DEFAULT_SEED = 20261122
MIN_RESIDENTS = 20_000  # below this the district is too small for its river and railway

BASE_RESIDENTS = 300_000
BASE_WIDTH_M, BASE_HEIGHT_M = 6000.0, 5000.0
BASE_BLOCKS, BASE_SITES, BASE_EXISTING = 800, 600, 90

# Street grid, in the district's own (unrotated) frame
ARTERIAL_GAP_M = (430.0, 580.0)  # distance between arterials
LOCAL_SPACING_M = (115.0, 200.0)  # local-street spacing: centre, edge
NODE_JITTER_M = 6.0  # s.d. of node jitter across local streets
NODE_JITTER_MAX_M = 12.0
LOCAL_EDGE_DROP = 0.10  # share of residential-street edges removed (T-junctions, superblocks)

# Barriers
RIVER_NAME = "岔河"
RAIL_NAME = "京沪铁路"
RIVER_HALF_WIDTH_M = 35.0
RIVER_BANK_M = 8.0  # streets stop this far from the water; the riverside footway runs there
RAIL_HALF_CORRIDOR_M = 20.0
CORRIDOR_LOSS_M = (300.0, 180.0)  # width of the cell bands lost to the river, to the railway
RIVER_MIN_WAVELENGTH_M = (3000.0, 1500.0)  # keeps bends gentle in small districts

# Blocks and people (STANDARDS.md, Dezhou 7th census)
OLD_TOWN_BLOCK_SHARE = 0.38
HIGH_RISE_SHARE_NEW = 0.25  # new compounds built as high-rise towers ...
HIGH_RISE_FACTOR = 2.0  # ... hold this many times the residents per m2 of footprint
OLD_TOWN_DENSITY_FACTOR = 1.6  # old walk-ups: small flats, close-packed, per m2 of footprint
BLOCK_POP_RANGE = (100, 3000)
HOUSEHOLDS_PER_1000 = 361.0
HOUSEHOLD_SIZE = {"old": 2.62, "new": 2.88}  # before rescaling to 361 per 1000 overall
SHARE_60_PLUS = 0.207
SHARE_60_PLUS_OLD_MINUS_NEW = 0.135
PER_1000_0_2 = 21.5
PER_1000_0_2_NEW_MINUS_OLD = 6.0
PER_1000_3_5 = 28.5
PER_1000_3_5_NEW_MINUS_OLD = 6.0

FACILITY_TYPES = (
    "elder_care",
    "nursery",
    "kindergarten",
    "convenience",
    "community_service",
    "health_station",
)
SITE_KINDS = ("idle_building", "vacant_lot", "existing_stock", "purchase")
SITE_KIND_SHARE = np.array([0.28, 0.14, 0.32, 0.26])

# Floor area (m2): (low, high, beta a, beta b) of a log-scale beta distribution
SITE_AREA = {
    "idle_building": (150.0, 2500.0, 1.5, 2.0),
    "vacant_lot": (1500.0, 8000.0, 1.6, 2.0),
    "existing_stock": (80.0, 1200.0, 1.5, 2.5),
    "purchase": (60.0, 1500.0, 1.3, 2.6),
}
# Share of sites restricted to some facility types, and the restrictions they may carry
SITE_RESTRICTED_SHARE = {
    "idle_building": 0.20,
    "vacant_lot": 0.25,
    "existing_stock": 0.25,
    "purchase": 0.50,
}
SITE_RESTRICTIONS = {
    "idle_building": (
        "elder_care,community_service",
        "elder_care,nursery,community_service",
        "community_service,health_station",
        "elder_care,nursery,kindergarten,community_service",
    ),
    "vacant_lot": (
        "kindergarten",
        "nursery,kindergarten",
        "elder_care,nursery,kindergarten,community_service",
        "kindergarten,community_service,health_station",
    ),
    "existing_stock": (
        "elder_care,community_service",
        "community_service",
        "elder_care,nursery,community_service,health_station",
        "elder_care,nursery,community_service",
    ),
    "purchase": (
        "convenience,health_station",
        "convenience",
        "convenience,community_service,health_station",
        "nursery,health_station",
    ),
}
SITE_YEAR_P = {
    "idle_building": (0.82, 0.12, 0.06),
    "vacant_lot": (0.60, 0.25, 0.15),
    "existing_stock": (0.90, 0.08, 0.02),
    "purchase": (0.85, 0.10, 0.05),
}
SITE_NAME_SUFFIX = {
    "idle_building": "号闲置用房",
    "vacant_lot": "号地块",
    "existing_stock": "号社区用房",
    "purchase": "号商铺",
}

EXISTING_TYPE_SHARE = np.array([0.13, 0.11, 0.15, 0.34, 0.14, 0.13])  # order of FACILITY_TYPES
EXISTING_CAPACITY = {  # (low, high, rounding step), in the type's capacity unit
    "elder_care": (200.0, 600.0, 10.0),  # m2
    "nursery": (20.0, 60.0, 1.0),  # places
    "kindergarten": (180.0, 360.0, 30.0),  # seats (6-12 classes of 30)
    "convenience": (50.0, 300.0, 5.0),  # m2
    "community_service": (300.0, 800.0, 10.0),  # m2
    "health_station": (120.0, 270.0, 5.0),  # m2
}
EXISTING_NAME = {
    "elder_care": "老年服务站",
    "nursery": "托育点",
    "kindergarten": "幼儿园",
    "convenience": "便利店",
    "community_service": "社区服务站",
    "health_station": "卫生服务站",
}

# Names (invented; a few echo real Dezhou street names)
# fmt: off
NS_ARTERIAL_NAMES = (
    "湖滨大道", "新湖大街", "岔河大道", "德兴大道", "迎宾大街", "长河大道", "崇德大道",
    "尚德路", "运河大街", "康博大道", "宋官屯街", "德州大道", "晶华路", "丰泽大街", "东方红路",
    "太阳城大道", "河东路", "陵城路", "建设街", "开发大街", "学院路", "站前大道", "广川大道",
)
EW_ARTERIAL_NAMES = (
    "东风路", "三八路", "天衢路", "大学路", "解放路", "新河路", "文化路", "广场路", "澳德路",
    "中心街", "北园路", "南环路", "北环路", "德城路", "经开路", "光明路", "民生路", "兴业路",
    "振华路", "青年路", "和平路", "育才路", "长江路",
)
BLOCK_NAME_WORDS = (
    "和平", "幸福", "阳光", "锦绣", "德苑", "运河", "天衢", "东方", "新华", "胜利", "建设",
    "光明", "长青", "金桥", "翠园", "丽景", "康乐", "华庭", "泰和", "御景", "湖畔", "紫荆",
    "怡和", "文苑", "书香", "百合", "枫林", "水岸", "兴隆", "春晖", "明珠", "盛世", "悦澜",
    "嘉禾", "福源", "安居", "凤凰", "碧水", "富民", "振华",
)
OLD_BLOCK_SUFFIX = ("新村", "小区", "宿舍", "家属院")
NEW_BLOCK_SUFFIX = ("花园", "家园", "名苑", "华府", "嘉园", "公馆", "雅居")

# fmt: on
_CN_DIGITS = "零一二三四五六七八九"


# --------------------------------------------------------------------------------------------
# small helpers


def _cn_number(n: int) -> str:
    """Write ``1 <= n <= 999`` in Chinese numerals (``12`` -> ``十二``)."""
    if n < 10:
        return _CN_DIGITS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        head = "十" if tens == 1 else _CN_DIGITS[tens] + "十"
        return head + (_CN_DIGITS[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    head = _CN_DIGITS[hundreds] + "百"
    if rest == 0:
        return head
    if rest < 10:
        return head + "零" + _CN_DIGITS[rest]
    return head + (_CN_DIGITS[1] if rest < 20 else "") + _cn_number(rest)


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """Return ``prefix`` + zero-padded 1..n, at least ``width`` digits."""
    width = max(width, len(str(n)))
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def _counts(total: int, shares: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``shares`` (largest remainder)."""
    raw = total * shares / shares.sum()
    out = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    if minimum and total >= minimum * len(shares):
        for k in np.flatnonzero(out < minimum):  # a handful of categories at most
            out[np.argmax(out)] -= minimum - out[k]
            out[k] = minimum
    return out


def _round_to_total(values: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``values`` to integers that sum exactly to ``total``."""
    out = np.floor(values).astype(np.int64)
    order = np.argsort(-(values - out), kind="stable")
    short = int(total - out.sum())
    if short > 0:
        out[order[:short]] += 1
    elif short < 0:
        out[order[::-1][:-short]] -= 1
    return out


def _log_beta(
    rng: np.random.Generator, lo: float, hi: float, a: float, b: float, n: int
) -> np.ndarray:
    """Draw ``n`` values in [lo, hi], beta(a, b)-distributed on a log scale."""
    return lo * (hi / lo) ** rng.beta(a, b, n)


def _dedupe_names(names: pd.Series, tag: str) -> pd.Series:
    """Append ``二<tag>``, ``三<tag>``... to the 2nd, 3rd... repeat of a name."""
    rank = names.groupby(names, sort=False).cumcount().to_numpy()
    extra = pd.Series(rank + 1).map(lambda k: "" if k == 1 else _cn_number(int(k)) + tag)
    return pd.Series(names.to_numpy().astype(object) + extra.to_numpy().astype(object))


def _node_keys(xy: np.ndarray) -> np.ndarray:
    """Hashable node keys: coordinates rounded to 0.01 m, as complex numbers."""
    return np.round(xy[:, 0], 2) + 1j * np.round(xy[:, 1], 2)


def street_components(streets: gpd.GeoDataFrame) -> tuple[int, np.ndarray]:
    """Connected components of the street graph whose nodes are line endpoints (0.01 m).

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        LineString geometries.

    Returns
    -------
    n_nodes : int
        Number of distinct endpoints.
    sizes : numpy.ndarray
        Nodes per component, largest first.
    """
    geoms = streets.geometry.to_numpy()
    ends = np.concatenate(
        [
            shapely.get_coordinates(shapely.get_point(geoms, 0)),
            shapely.get_coordinates(shapely.get_point(geoms, -1)),
        ]
    )
    _, inv = np.unique(_node_keys(ends), return_inverse=True)
    n = int(inv.max()) + 1
    m = len(geoms)
    graph = coo_matrix((np.ones(m), (inv[:m], inv[m:])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return n, np.sort(np.bincount(labels))[::-1]


# --------------------------------------------------------------------------------------------
# geometry of the district


class _Warp:
    """Smooth, gently curving, rotated map from the district frame (u, v) to EPSG:4548."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.theta = np.deg2rad(rng.uniform(9.0, 15.0))
        self.amp = rng.uniform(25.0, 55.0, 4)
        self.k = 2.0 * np.pi / rng.uniform(2500.0, 5000.0, 4)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, 4)

    def __call__(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Map frame coordinates to (x, y); returns an array of shape ``u.shape + (2,)``."""
        a, k, p = self.amp, self.k, self.phase
        uu = u + a[0] * np.sin(k[0] * v + p[0]) + a[1] * np.sin(k[1] * u + p[1])
        vv = v + a[2] * np.sin(k[2] * u + p[2]) + a[3] * np.sin(k[3] * v + p[3])
        c, s = np.cos(self.theta), np.sin(self.theta)
        return np.stack([CENTRE_X + c * uu - s * vv, CENTRE_Y + s * uu + c * vv], axis=-1)


def _line_positions(half: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the street lines along one axis, and whether each is an arterial.

    Arterials are 430-580 m apart; local streets fill the gaps, 115 m apart in the centre and
    up to 200 m at the edge.
    """
    right = [rng.uniform(-60.0, 60.0)]
    while right[-1] < half + 200.0:
        right.append(right[-1] + rng.uniform(*ARTERIAL_GAP_M))
    left = [right[0]]
    while left[-1] > -half - 200.0:
        left.append(left[-1] - rng.uniform(*ARTERIAL_GAP_M))
    arterials = np.unique(np.r_[left, right])
    pos: list[np.ndarray] = []
    art: list[np.ndarray] = []
    for a, b in itertools.pairwise(arterials):  # ~ 10-30 gaps
        gap = b - a
        r = min(1.0, abs(0.5 * (a + b)) / half)
        spacing = LOCAL_SPACING_M[0] + (LOCAL_SPACING_M[1] - LOCAL_SPACING_M[0]) * r
        m = max(1, round(gap / spacing)) - 1
        step = gap / (m + 1)
        locals_ = a + step * (np.arange(1, m + 1) + rng.uniform(-0.1, 0.1, m))
        pos += [np.array([a]), locals_]
        art += [np.array([True]), np.zeros(m, bool)]
    pos.append(arterials[-1:])
    art.append(np.array([True]))
    p, is_art = np.concatenate(pos), np.concatenate(art)
    keep = np.abs(p) <= half
    return p[keep], is_art[keep]


def _line_classes(pos: np.ndarray, is_art: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``highway`` class of each street line: arterials alternate primary / secondary
    (the one nearest the centre is primary); about a quarter of local lines are tertiary."""
    cls = np.where(rng.random(len(pos)) < 0.25, "tertiary", "residential").astype(object)
    art_idx = np.flatnonzero(is_art)
    if len(art_idx):
        central = np.argmin(np.abs(pos[art_idx]))
        primary = (np.arange(len(art_idx)) - central) % 2 == 0
        cls[art_idx] = np.where(primary, "primary", "secondary")
    return cls


def _line_names(is_art: np.ndarray, arterial_names: Sequence[str], local_prefix: str) -> np.ndarray:
    """Street names per line: arterials from a list, local streets 经一街 / 纬一街..."""
    names = np.empty(len(is_art), dtype=object)
    n_art = int(is_art.sum())
    pool = list(arterial_names) + [f"{local_prefix}{_cn_number(k)}路" for k in range(1, n_art + 1)]
    names[is_art] = pool[:n_art]
    n_loc = len(is_art) - n_art
    names[~is_art] = [f"{local_prefix}{_cn_number(k)}街" for k in range(1, n_loc + 1)]
    return names


def _smooth_field(un: np.ndarray, vn: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field on normalised coordinates (sum of four plane waves)."""
    out = np.zeros_like(un)
    for _ in range(4):
        ang = rng.uniform(0.0, 2.0 * np.pi)
        freq = rng.uniform(2.0, 5.0)
        out += np.sin(freq * (np.cos(ang) * un + np.sin(ang) * vn) + rng.uniform(0, 2 * np.pi))
    return out / 2.0


# --------------------------------------------------------------------------------------------
# the generator


def generate_city(
    residents: int = DEFAULT_RESIDENTS, seed: int = DEFAULT_SEED
) -> dict[str, gpd.GeoDataFrame]:
    """Generate the sample district.

    Parameters
    ----------
    residents : int
        Total population of the district (the blocks' ``population`` sums to exactly this).
        300,000 gives a ~6 km x 5 km district; the extent, and so the number of blocks, sites,
        existing facilities and streets, scales in proportion. At least 20,000.
    seed : int
        Seed for :func:`numpy.random.default_rng`; the output is a function of
        ``(residents, seed)`` only.

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        Layers ``blocks``, ``sites``, ``existing``, ``streets``, ``river`` and ``rail``, all in
        EPSG:4548. Columns are described in ``data/README.md``.

    Raises
    ------
    ValueError
        If ``residents`` is below 20,000.
    """
    if residents < MIN_RESIDENTS:
        raise ValueError(f"residents must be at least {MIN_RESIDENTS:,}, got {residents:,}")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    ratio = residents / BASE_RESIDENTS
    scale = np.sqrt(ratio)
    # grow small districts a little, so that the land lost to the river and the railway
    # (a band of fixed width) takes the same share as at 300,000 residents
    lost = lambda w, h: CORRIDOR_LOSS_M[0] / h + CORRIDOR_LOSS_M[1] / w  # noqa: E731
    grow = np.sqrt(
        (1.0 - lost(BASE_WIDTH_M, BASE_HEIGHT_M))
        / (1.0 - lost(BASE_WIDTH_M * scale, BASE_HEIGHT_M * scale))
    )
    half_w, half_h = 0.5 * BASE_WIDTH_M * scale * grow, 0.5 * BASE_HEIGHT_M * scale * grow
    warp = _Warp(rng)

    # ---- street lattice -------------------------------------------------------------------
    u_pos, u_art = _line_positions(half_w, rng)  # north-south lines (constant u)
    v_pos, v_art = _line_positions(half_h, rng)  # east-west lines (constant v)
    u_cls, v_cls = _line_classes(u_pos, u_art, rng), _line_classes(v_pos, v_art, rng)
    u_name = _line_names(u_art, NS_ARTERIAL_NAMES, "经")
    v_name = _line_names(v_art, EW_ARTERIAL_NAMES, "纬")
    nu, nv = len(u_pos), len(v_pos)

    jit_u = np.clip(rng.normal(0, NODE_JITTER_M, (nu, nv)), -NODE_JITTER_MAX_M, NODE_JITTER_MAX_M)
    jit_v = np.clip(rng.normal(0, NODE_JITTER_M, (nu, nv)), -NODE_JITTER_MAX_M, NODE_JITTER_MAX_M)
    uu = u_pos[:, None] + jit_u * (~u_art)[:, None]  # arterials stay smooth
    vv = v_pos[None, :] + jit_v * (~v_art)[None, :]
    node_xy = warp(uu, vv)  # (nu, nv, 2)
    node_id = np.arange(nu * nv).reshape(nu, nv)
    flat_xy = node_xy.reshape(-1, 2)

    t = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    # u-edges run along line i from node (i, j) to (i, j+1); v-edges along line j
    ue_u = uu[:, :-1, None] + (uu[:, 1:, None] - uu[:, :-1, None]) * t
    ue_v = vv[:, :-1, None] + (vv[:, 1:, None] - vv[:, :-1, None]) * t
    ve_u = uu[:-1, :, None] + (uu[1:, :, None] - uu[:-1, :, None]) * t
    ve_v = vv[:-1, :, None] + (vv[1:, :, None] - vv[:-1, :, None]) * t
    ue_xy, ve_xy = warp(ue_u, ue_v), warp(ve_u, ve_v)
    ue_xy[..., 0, :], ue_xy[..., -1, :] = node_xy[:, :-1], node_xy[:, 1:]
    ve_xy[..., 0, :], ve_xy[..., -1, :] = node_xy[:-1, :], node_xy[1:, :]

    ncu, ncv = nu - 1, nv - 1  # cells
    cell_id = np.arange(ncu * ncv).reshape(ncu, ncv)
    iu, ju = np.meshgrid(np.arange(nu), np.arange(nv - 1), indexing="ij")
    iv, jv = np.meshgrid(np.arange(nu - 1), np.arange(nv), indexing="ij")

    def _cell(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        ok = (i >= 0) & (i < ncu) & (j >= 0) & (j < ncv)
        return np.where(ok, cell_id[np.clip(i, 0, ncu - 1), np.clip(j, 0, ncv - 1)], -1)

    edges = pd.DataFrame(
        {
            "axis": np.r_[np.zeros(iu.size, int), np.ones(iv.size, int)],
            "line": np.r_[iu.ravel(), jv.ravel()],
            "a": np.r_[node_id[:, :-1].ravel(), node_id[:-1, :].ravel()],
            "b": np.r_[node_id[:, 1:].ravel(), node_id[1:, :].ravel()],
            "cell_l": np.r_[_cell(iu - 1, ju).ravel(), _cell(iv, jv - 1).ravel()],
            "cell_r": np.r_[_cell(iu, ju).ravel(), _cell(iv, jv).ravel()],
        }
    )
    edges["highway"] = np.r_[u_cls[iu.ravel()], v_cls[jv.ravel()]]
    edges["name"] = np.r_[u_name[iu.ravel()], v_name[jv.ravel()]]
    edge_xy = np.concatenate([ue_xy.reshape(-1, 4, 2), ve_xy.reshape(-1, 4, 2)])
    edge_geom = shapely.linestrings(edge_xy)
    dropped = (edges["highway"] == "residential") & (rng.random(len(edges)) < LOCAL_EDGE_DROP)
    edges["keep"] = ~dropped

    # cells: quads of four nodes
    quad = np.stack(
        [node_xy[:-1, :-1], node_xy[1:, :-1], node_xy[1:, 1:], node_xy[:-1, 1:]], axis=2
    ).reshape(-1, 4, 2)
    cell_poly = shapely.polygons(np.concatenate([quad, quad[:, :1]], axis=1))
    cell_xy = quad.mean(axis=1)
    cu, cv = np.meshgrid(
        0.5 * (u_pos[:-1] + u_pos[1:]), 0.5 * (v_pos[:-1] + v_pos[1:]), indexing="ij"
    )
    cun, cvn = (cu / half_w).ravel(), (cv / half_h).ravel()  # normalised frame coordinates

    # ---- river and rail -------------------------------------------------------------------
    wl1 = max(rng.uniform(1.1, 1.5) * 2 * half_w, RIVER_MIN_WAVELENGTH_M[0])
    wl2 = max(rng.uniform(0.35, 0.5) * 2 * half_w, RIVER_MIN_WAVELENGTH_M[1])
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)

    def river_v(u: np.ndarray) -> np.ndarray:
        wave1 = 0.10 * np.sin(2 * np.pi * u / wl1 + ph1)
        wave2 = 0.04 * np.sin(2 * np.pi * u / wl2 + ph2)
        return half_h * (-0.30 + wave1 + wave2)

    ru = np.linspace(-half_w - 500.0, half_w + 500.0, 800)
    river_line = shapely.linestrings(warp(ru, river_v(ru)))
    river_poly = shapely.buffer(river_line, RIVER_HALF_WIDTH_M, cap_style="flat")
    river_cut = shapely.buffer(river_line, RIVER_HALF_WIDTH_M + RIVER_BANK_M, cap_style="flat")
    banks = shapely.line_merge(
        shapely.offset_curve(
            river_line, np.array([1.0, -1.0]) * (RIVER_HALF_WIDTH_M + RIVER_BANK_M)
        )
    )

    mids = 0.5 * (u_pos[:-1] + u_pos[1:])
    i_rail = int(np.argmin(np.abs(mids - 0.32 * half_w)))
    u_rail = mids[i_rail]
    rv = np.linspace(-half_h - 500.0, half_h + 500.0, 400)
    rail_line = shapely.linestrings(warp(np.full_like(rv, u_rail), rv))
    rail_cut = shapely.buffer(rail_line, RAIL_HALF_CORRIDOR_M, cap_style="flat")

    # bridges: arterial north-south lines, spread out, at least one each side of the railway
    n_bridges = max(3, round(4 * scale))
    west = np.flatnonzero(u_art & (u_pos < u_rail))
    east = np.flatnonzero(u_art & (u_pos > u_rail))
    n_west = int(
        np.clip(
            round(n_bridges * len(west) / max(1, len(west) + len(east))),
            min(1, len(west)),
            len(west),
        )
    )
    n_east = int(np.clip(n_bridges - n_west, min(1, len(east)), len(east)))
    bridge_lines = np.r_[
        west[np.round(np.linspace(0, len(west) - 1, n_west + 2)[1:-1]).astype(int)],
        east[np.round(np.linspace(0, len(east) - 1, n_east + 2)[1:-1]).astype(int)],
    ]
    # rail crossings: east-west arterials, at least one each side of the river
    vr_rail = float(river_v(np.array([u_rail]))[0])
    n_cross = max(2, round(3 * scale))
    north = np.flatnonzero(v_pos > vr_rail + 100.0)
    south = np.flatnonzero(v_pos < vr_rail - 100.0)
    north = north[v_art[north]] if v_art[north].any() else north
    south = south[v_art[south]] if v_art[south].any() else south
    n_south = min(len(south), max(1, n_cross // 2))
    n_north = min(len(north), n_cross - n_south)
    cross_lines = np.r_[
        north[np.round(np.linspace(0, len(north) - 1, n_north + 2)[1:-1]).astype(int)],
        south[np.round(np.linspace(0, len(south) - 1, n_south + 2)[1:-1]).astype(int)],
    ]

    # ---- cut the network at the barriers ---------------------------------------------------
    axis = edges["axis"].to_numpy()
    line = edges["line"].to_numpy()
    geoms = edge_geom.copy()
    on_river = shapely.intersects(geoms, river_cut)
    on_rail = shapely.intersects(geoms, rail_cut)
    # never drop a bridge or a crossing (matters only where a local street had to stand in)
    keep = edges["keep"].to_numpy() | (on_river & (axis == 0) & np.isin(line, bridge_lines))
    keep |= on_rail & (axis == 1) & np.isin(line, cross_lines)
    hit_river, hit_rail = on_river & keep, on_rail & keep
    is_bridge = hit_river & (axis == 0) & np.isin(line, bridge_lines)
    is_cross = hit_rail & (axis == 1) & np.isin(line, cross_lines)
    cut_r = hit_river & ~is_bridge
    cut_t = hit_rail & ~is_cross
    geoms[cut_r] = shapely.difference(geoms[cut_r], river_cut)
    geoms[cut_t] = shapely.difference(geoms[cut_t], rail_cut)
    span = np.full(len(geoms), None, dtype=object)
    span[is_bridge] = shapely.intersection(geoms[is_bridge], river_cut)
    geoms[is_bridge] = shapely.difference(geoms[is_bridge], river_cut)

    kept = np.flatnonzero(keep)
    parts, src = shapely.get_parts(geoms[kept], return_index=True)
    src = kept[src]
    bparts, bsrc = shapely.get_parts(span[is_bridge], return_index=True)
    bsrc = np.flatnonzero(is_bridge)[bsrc]
    is_span = np.r_[np.zeros(len(parts), bool), np.ones(len(bparts), bool)]
    parts, src = np.r_[parts, bparts], np.r_[src, bsrc]
    nonempty = ~shapely.is_empty(parts)
    parts, src, is_span = parts[nonempty], src[nonempty], is_span[nonempty]
    p0 = shapely.get_coordinates(shapely.get_point(parts, 0))
    p1 = shapely.get_coordinates(shapely.get_point(parts, -1))
    ea, eb = flat_xy[edges["a"].to_numpy()[src]], flat_xy[edges["b"].to_numpy()[src]]
    near = lambda p, q: np.hypot(*(p - q).T) < 0.01  # noqa: E731
    attached = near(p0, ea) | near(p0, eb) | near(p1, ea) | near(p1, eb)
    ok = (shapely.length(parts) >= 3.0) & (attached | is_span)
    parts, src, is_span = parts[ok], src[ok], is_span[ok]
    road_hw = edges["highway"].to_numpy()[src]
    road_name = edges["name"].to_numpy()[src].astype(object)
    road_name[is_span] = road_name[is_span] + "桥"

    # ---- riverside footway, noded at every street end on the banks --------------------------
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(parts, k)) for k in (0, -1)])
    on_bank = shapely.distance(shapely.points(ends), shapely.boundary(river_cut)) < 0.05
    bank_xy = ends[on_bank]
    _, first = np.unique(_node_keys(bank_xy), return_index=True)
    bank_xy = bank_xy[np.sort(first)]
    bank_pts = shapely.points(bank_xy)
    foot_geoms: list[shapely.LineString] = []
    if len(bank_xy) > 1:
        dist = np.stack([shapely.distance(bank_pts, b) for b in banks])
        side = np.argmin(dist, axis=0)
        s_along = np.where(
            side == 0,
            shapely.line_locate_point(banks[0], bank_pts),
            shapely.line_locate_point(banks[1], bank_pts),
        )
        order = np.lexsort((s_along, side))
        for k0, k1 in itertools.pairwise(order):  # ~ 100 bank points
            if side[k0] != side[k1] or np.hypot(*(bank_xy[k0] - bank_xy[k1])) > 320.0:
                continue
            bank = banks[side[k0]]
            if bank.geom_type != "LineString":  # a bend too tight to follow: no path here
                continue
            piece = shapely.ops.substring(bank, s_along[k0], s_along[k1])
            inner = shapely.get_coordinates(piece)[1:-1]
            coords = np.vstack([bank_xy[k0], inner, bank_xy[k1]])
            foot_geoms.append(shapely.linestrings(coords))
    foot = np.array(foot_geoms, dtype=object)
    if len(foot):
        tree = shapely.STRtree(parts)
        crosses = np.zeros(len(foot), bool)
        crosses[np.unique(tree.query(foot, predicate="crosses")[0])] = True
        bad = (
            crosses
            | shapely.intersects(foot, river_poly)
            | shapely.intersects(foot, rail_cut)
            | (shapely.length(foot) < 3.0)
        )
        foot = foot[~bad]

    # ---- zoning: land cells, residential cells, old town --------------------------------------
    land = ~(
        shapely.intersects(cell_poly, shapely.buffer(river_poly, 20.0))
        | shapely.intersects(cell_poly, shapely.buffer(rail_line, 25.0))
    )
    r_cell = np.hypot(cun, cvn)  # 0 at the centre, ~1 at the middle of each side
    zoning = _smooth_field(cun, cvn, rng) + 0.7 * rng.normal(size=len(cun)) - 0.8 * r_cell
    n_land = int(land.sum())
    n_blocks = int(
        np.clip(
            round(BASE_BLOCKS * ratio),
            np.ceil(residents / 2500),
            min(0.88 * n_land, residents / 150),
        )
    )
    if n_blocks * BLOCK_POP_RANGE[1] < residents:  # cannot happen above MIN_RESIDENTS
        raise ValueError(f"district too small for {residents:,} residents (seed {seed})")
    res_cells = np.flatnonzero(land)[np.argsort(-zoning[land], kind="stable")[:n_blocks]]
    res_cells.sort()
    is_res = np.zeros(len(cun), bool)
    is_res[res_cells] = True

    old_u, old_v = -0.10, 0.12
    r_old = np.hypot((cun - old_u) / 0.9, (cvn - old_v) / 0.8)
    old_score = r_old + 0.22 * rng.normal(size=len(cun))
    old_cut = np.sort(old_score[res_cells])[round(OLD_TOWN_BLOCK_SHARE * n_blocks) - 1]
    is_old_cell = old_score <= old_cut

    # ---- blocks (compounds) ---------------------------------------------------------------
    inset = rng.uniform(12.0, 28.0, n_blocks)
    comp = shapely.buffer(cell_poly[res_cells], -inset, join_style="mitre")
    comp_xy, comp_idx = shapely.get_coordinates(comp, return_index=True)
    ctr = shapely.get_coordinates(shapely.centroid(comp))
    corner = shapely.get_coordinates(shapely.get_point(shapely.get_exterior_ring(comp), 0))
    anchor = ctr + rng.uniform(0.0, 0.5, (n_blocks, 1)) * (corner - ctr)
    shrink = rng.uniform(0.82, 1.0, n_blocks)
    comp_xy = anchor[comp_idx] + shrink[comp_idx, None] * (comp_xy - anchor[comp_idx])
    comp = shapely.set_coordinates(comp.copy(), np.round(comp_xy, 2))
    area = shapely.area(comp)

    block_old = is_old_cell[res_cells]
    high_rise = ~block_old & (rng.random(n_blocks) < HIGH_RISE_SHARE_NEW)
    density = (
        np.exp(-0.8 * r_old[res_cells])
        * rng.lognormal(0.0, 0.75, n_blocks)
        * np.where(high_rise, HIGH_RISE_FACTOR, 1.0)
        * np.where(block_old, OLD_TOWN_DENSITY_FACTOR, 1.0)
    )
    raw = area * density
    p_min, p_max = BLOCK_POP_RANGE

    def _pop(k: float) -> np.ndarray:  # a soft floor: no pile-up of blocks at the minimum
        return np.minimum(p_min + k * raw, p_max)

    lo, hi = 0.0, 1.0
    while _pop(hi).sum() < residents:
        hi *= 2.0
    for _ in range(100):  # bisection for the scale that hits the total
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _pop(mid).sum() < residents else (lo, mid)
    pop = _round_to_total(_pop(hi), residents)

    w_old = pop[block_old].sum() / residents

    def _group_shares(target: float, old_minus_new: float, sd_rel: float) -> np.ndarray:
        """Per-block shares with pop-weighted means ``new`` / ``new + diff`` hitting ``target``."""
        new_mean = target - w_old * old_minus_new
        mean = np.where(block_old, new_mean + old_minus_new, new_mean)
        share = mean * rng.lognormal(0.0, sd_rel, n_blocks)
        for grp in (block_old, ~block_old):  # rescale so the group's pop-weighted mean is exact
            if grp.any():
                share[grp] *= mean[grp][0] * pop[grp].sum() / (share[grp] * pop[grp]).sum()
        return np.clip(share, 0.0, 0.6)

    s60 = _group_shares(SHARE_60_PLUS, SHARE_60_PLUS_OLD_MINUS_NEW, 0.15)
    s02 = _group_shares(PER_1000_0_2 / 1000, -PER_1000_0_2_NEW_MINUS_OLD / 1000, 0.25)
    s35 = _group_shares(PER_1000_3_5 / 1000, -PER_1000_3_5_NEW_MINUS_OLD / 1000, 0.20)
    pop_60 = np.minimum(np.rint(pop * s60).astype(np.int64), pop)
    pop_02 = np.minimum(np.rint(pop * s02).astype(np.int64), pop - pop_60)
    pop_35 = np.minimum(np.rint(pop * s35).astype(np.int64), pop - pop_60 - pop_02)
    hh_size = np.where(block_old, HOUSEHOLD_SIZE["old"], HOUSEHOLD_SIZE["new"])
    hh = pop / (hh_size * rng.lognormal(0.0, 0.05, n_blocks))
    hh *= HOUSEHOLDS_PER_1000 / 1000 * residents / hh.sum()
    households = np.clip(_round_to_total(hh, round(HOUSEHOLDS_PER_1000 / 1000 * residents)), 1, pop)

    word = rng.integers(0, len(BLOCK_NAME_WORDS), n_blocks)
    suf_old = np.array(OLD_BLOCK_SUFFIX, dtype=object)[
        rng.integers(0, len(OLD_BLOCK_SUFFIX), n_blocks)
    ]
    suf_new = np.array(NEW_BLOCK_SUFFIX, dtype=object)[
        rng.integers(0, len(NEW_BLOCK_SUFFIX), n_blocks)
    ]
    base = np.array(BLOCK_NAME_WORDS, dtype=object)[word] + np.where(block_old, suf_old, suf_new)
    blocks = gpd.GeoDataFrame(
        {
            "block_id": _ids("B", n_blocks, 4),
            "name": _dedupe_names(pd.Series(base), "期").to_numpy(),
            "population": pop,
            "households": households.astype(np.int64),
            "pop_0_2": pop_02,
            "pop_3_5": pop_35,
            "pop_60_plus": pop_60,
            "area_type": np.where(block_old, "old", "new"),
        },
        geometry=comp,
        crs=CRS,
    )

    # ---- frontages: where sites and facilities can sit --------------------------------------
    clean = keep & ~hit_river & ~hit_rail
    clean_idx = np.flatnonzero(clean)
    fr = pd.DataFrame(
        {
            "edge": np.r_[clean_idx, clean_idx],
            "cell": np.r_[edges["cell_l"].to_numpy()[clean], edges["cell_r"].to_numpy()[clean]],
        }
    )
    fr = fr[fr["cell"] >= 0]
    fr = fr[land[fr["cell"].to_numpy()]].reset_index(drop=True)
    fe, fc = fr["edge"].to_numpy(), fr["cell"].to_numpy()
    f_len = shapely.length(edge_geom[fe])
    f_old, f_res, f_r = is_old_cell[fc], is_res[fc], r_cell[fc]
    f_hw = edges["highway"].to_numpy()[fe]
    propensity = rng.lognormal(0.0, 0.7, len(cun))[fc]  # clustering of opportunities

    def _place(weight: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` points 8-38 m off the street, into the frontage's cell."""
        pick = rng.choice(len(fe), size=n, p=weight / weight.sum())
        edge = edge_geom[fe[pick]]
        pt = shapely.get_coordinates(
            shapely.line_interpolate_point(edge, rng.uniform(0.15, 0.85, n), normalized=True)
        )
        ab = shapely.get_coordinates(shapely.get_point(edge, -1)) - shapely.get_coordinates(
            shapely.get_point(edge, 0)
        )
        normal = np.c_[-ab[:, 1], ab[:, 0]] / np.hypot(ab[:, 0], ab[:, 1])[:, None]
        to_cell = cell_xy[fc[pick]] - pt
        normal *= np.sign((normal * to_cell).sum(axis=1))[:, None]
        xy = pt + rng.uniform(8.0, 38.0, (n, 1)) * normal
        good = (shapely.distance(shapely.points(xy), river_poly) > 15.0) & (
            shapely.distance(shapely.points(xy), rail_line) > 30.0
        )
        return np.round(xy[good], 2), pick[good]

    # ---- candidate sites ------------------------------------------------------------------
    n_sites = max(8, round(BASE_SITES * ratio))
    kind_n = _counts(n_sites, SITE_KIND_SHARE, minimum=1)
    hw_w = (
        pd.Series(f_hw)
        .map({"primary": 3.0, "secondary": 2.5, "tertiary": 1.5, "residential": 0.6})
        .to_numpy()
    )
    kind_w = {
        "idle_building": np.where(f_old, 3.0, 1.0) * np.where(f_res, 1.0, 1.3),
        "vacant_lot": np.where(f_res, 0.15, 1.0) * np.where(f_old, 0.2, 1.0) * (0.3 + f_r**2),
        "existing_stock": np.where(f_res, 1.0, 0.15) * np.where(f_old, 1.3, 1.0),
        "purchase": hw_w * np.where(f_old, 1.2, 1.0),
    }
    site_parts = []
    for kind, n in zip(SITE_KINDS, kind_n, strict=True):
        xy, pick = _place(kind_w[kind] * f_len * propensity, int(n * 1.5) + 5)
        xy, pick = xy[:n], pick[:n]
        m = len(xy)
        lo_a, hi_a, a_, b_ = SITE_AREA[kind]
        area_s = np.round(_log_beta(rng, lo_a, hi_a, a_, b_, m), 1)
        if kind == "idle_building":
            fixed = area_s * rng.uniform(800.0, 2000.0, m) + 100_000.0
            heavy = rng.random(m) < 0.6
            cpm = np.where(heavy, rng.uniform(3000.0, 4500.0, m), rng.uniform(1500.0, 3000.0, m))
        elif kind == "vacant_lot":
            fixed = rng.uniform(1.0e6, 3.0e6, m)
            cpm = rng.uniform(3500.0, 5500.0, m)
        elif kind == "existing_stock":
            fixed = rng.uniform(20_000.0, 150_000.0, m)
            cpm = rng.uniform(1500.0, 3000.0, m)
        else:
            fixed = area_s * rng.uniform(8000.0, 12000.0, m)
            cpm = rng.uniform(2000.0, 3000.0, m)
        opts = np.array(SITE_RESTRICTIONS[kind], dtype=object)
        allowed = np.where(
            rng.random(m) < SITE_RESTRICTED_SHARE[kind], opts[rng.integers(0, len(opts), m)], ""
        )
        year = rng.choice([2026, 2027, 2028], size=m, p=SITE_YEAR_P[kind])
        number = rng.integers(1, 300, m)
        street = edges["name"].to_numpy()[fe[pick]].astype(object)
        site_parts.append(
            pd.DataFrame(
                {
                    "name": street + number.astype(str).astype(object) + SITE_NAME_SUFFIX[kind],
                    "kind": kind,
                    "floor_area_m2": area_s,
                    "fixed_cost": np.round(fixed, -3),
                    "cost_per_m2": np.round(cpm, -1),
                    "allowed_types": allowed.astype(str),
                    "available_year": year.astype(np.int64),
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                }
            )
        )
    sdf = pd.concat(site_parts, ignore_index=True)
    sdf = sdf.iloc[np.lexsort((sdf["x"].to_numpy(), np.round(sdf["y"].to_numpy(), -2)))]
    sdf = sdf.reset_index(drop=True)
    sdf.insert(0, "site_id", _ids("S", len(sdf), 4))
    sdf["name"] = _dedupe_names(sdf["name"], "号").to_numpy()
    sites = gpd.GeoDataFrame(
        sdf.drop(columns=["x", "y"]),
        geometry=shapely.points(sdf[["x", "y"]].to_numpy()),
        crs=CRS,
    )

    # ---- existing facilities ----------------------------------------------------------------
    n_exist = max(6, round(BASE_EXISTING * ratio))
    type_n = _counts(n_exist, EXISTING_TYPE_SHARE, minimum=1)
    ex_w = np.where(f_old, 2.5, 1.0) * np.where(f_res, 1.0, 0.5) * f_len * np.sqrt(propensity)
    xy, pick = _place(ex_w, int(n_exist * 1.5) + 5)
    xy, pick = xy[:n_exist], pick[:n_exist]
    types = np.repeat(np.array(FACILITY_TYPES, dtype=object), type_n)[rng.permutation(n_exist)]
    types = types[: len(xy)]
    lo_c = np.array([EXISTING_CAPACITY[k][0] for k in types])
    hi_c = np.array([EXISTING_CAPACITY[k][1] for k in types])
    step = np.array([EXISTING_CAPACITY[k][2] for k in types])
    cap = np.clip(np.round(rng.uniform(lo_c, hi_c) / step) * step, lo_c, hi_c)
    ex_name = (
        edges["name"].to_numpy()[fe[pick]].astype(object)
        + pd.Series(types).map(EXISTING_NAME).to_numpy()
    )
    existing = gpd.GeoDataFrame(
        {
            "facility_id": _ids("E", len(xy), 3),
            "name": _dedupe_names(pd.Series(ex_name), "分站").to_numpy(),
            "type": types.astype(str),
            "capacity": cap.astype(float),
        },
        geometry=shapely.points(xy),
        crs=CRS,
    )

    # ---- service roads and park paths: short dead ends into cells ---------------------------
    live = np.unique(
        _node_keys(
            np.r_[
                shapely.get_coordinates(shapely.get_point(parts, 0)),
                shapely.get_coordinates(shapely.get_point(parts, -1)),
            ]
        )
    )
    ni, nj = np.divmod(np.arange(nu * nv), nv)  # lattice indices of node_id
    spur_nodes = np.flatnonzero(rng.random(nu * nv) < 0.07)
    corner_di = rng.integers(0, 2, (len(spur_nodes), 2)) - 1  # cell (i-1|i, j-1|j)
    sc = _cell(ni[spur_nodes] + corner_di[:, 0], nj[spur_nodes] + corner_di[:, 1])
    ok = sc >= 0
    spur_nodes, sc = spur_nodes[ok], sc[ok]
    ok = land[sc] & np.isin(_node_keys(flat_xy[spur_nodes]), live)
    spur_nodes, sc = spur_nodes[ok], sc[ok]
    start = flat_xy[spur_nodes]
    vec = cell_xy[sc] - start
    dist = np.hypot(vec[:, 0], vec[:, 1])
    length = np.minimum(rng.uniform(30.0, 70.0, len(sc)), 0.35 * dist)
    spurs = shapely.linestrings(np.stack([start, start + vec * (length / dist)[:, None]], axis=1))
    ok = ~(shapely.intersects(spurs, river_cut) | shapely.intersects(spurs, rail_cut))
    ok &= length >= 10.0
    spurs, sc = spurs[ok], sc[ok]
    spur_hw = np.where(is_res[sc], "service", "footway").astype(object)

    # ---- park paths: a deliberately stranded piece (not linked to any street) ---------------
    # Real data has these (paths whose links were never mapped); network builders must cope.
    parks = np.setdiff1d(np.flatnonzero(land & ~is_res), sc)
    n_parks = min(len(parks), max(1, round(ratio)))
    park = np.sort(rng.choice(parks, size=n_parks, replace=False)) if n_parks else parks
    ang = rng.uniform(0.0, np.pi, n_parks)
    arm = 30.0 * np.c_[np.cos(ang), np.sin(ang)]
    mid = cell_xy[park]
    park_paths = np.r_[
        shapely.linestrings(np.stack([mid - arm, mid], axis=1)),
        shapely.linestrings(np.stack([mid, mid + arm], axis=1)),
    ]

    # ---- assemble streets -------------------------------------------------------------------
    all_geoms = np.r_[parts, foot, spurs, park_paths]
    n_foot, n_park = len(foot), len(park_paths)
    all_hw = np.r_[
        road_hw,
        np.full(n_foot, "footway", dtype=object),
        spur_hw,
        np.full(n_park, "footway", dtype=object),
    ]
    all_name = np.r_[
        road_name,
        np.full(n_foot, RIVER_NAME + "滨河步道", dtype=object),
        np.full(len(spurs), "", dtype=object),
        np.full(n_park, "公园步道", dtype=object),
    ]
    all_geoms = shapely.transform(all_geoms, lambda c: np.round(c, 2))
    ok = shapely.length(all_geoms) >= 1.0
    streets = gpd.GeoDataFrame(
        {
            "street_id": _ids("W", int(ok.sum()), 5),
            "highway": all_hw[ok].astype(str),
            "name": all_name[ok].astype(str),
        },
        geometry=all_geoms[ok],
        crs=CRS,
    )

    cm = lambda c: np.round(c, 2)  # noqa: E731  (centimetre coordinates)
    river = gpd.GeoDataFrame(
        {"name": [RIVER_NAME]}, geometry=[shapely.transform(river_poly, cm)], crs=CRS
    )
    rail = gpd.GeoDataFrame(
        {"name": [RAIL_NAME]}, geometry=[shapely.transform(rail_line, cm)], crs=CRS
    )

    layers = {
        "blocks": blocks,
        "sites": sites,
        "existing": existing,
        "streets": streets,
        "river": river,
        "rail": rail,
    }
    _log_summary(layers, len(bridge_lines), len(cross_lines), time.perf_counter() - t0)
    return layers


def site_coverage(
    blocks: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    min_area: float = 350.0,
    radius: float = 230.0,
) -> float:
    """Share of blocks whose centroid has a site of ``>= min_area`` m2 within ``radius`` m.

    Parameters
    ----------
    blocks, sites : geopandas.GeoDataFrame
        The ``blocks`` and ``sites`` layers.
    min_area : float
        Smallest useful floor area, m2 (350 m2 is the smallest elder-care station).
    radius : float
        Straight-line distance, m.

    Returns
    -------
    float
        Share in [0, 1].
    """
    big = sites[sites["floor_area_m2"] >= min_area]
    if big.empty or blocks.empty:
        return 0.0
    tree = cKDTree(shapely.get_coordinates(big.geometry.to_numpy()))
    d, _ = tree.query(shapely.get_coordinates(blocks.geometry.centroid.to_numpy()))
    return float(np.mean(d <= radius))


def _log_summary(
    layers: dict[str, gpd.GeoDataFrame], n_bridges: int, n_cross: int, seconds: float
) -> None:
    """Log counts and the demographic pattern of a generated city."""
    b, s, e, w = (layers[k] for k in ("blocks", "sites", "existing", "streets"))
    old = b["area_type"] == "old"
    share = lambda m: b.loc[m, "pop_60_plus"].sum() / max(1, b.loc[m, "population"].sum())  # noqa: E731
    n_nodes, sizes = street_components(w)
    LOG.info(
        "generated in %.1f s: %d blocks (%d old), %d residents, %d households; "
        "60+ %.1f %% (old %.1f %%, new %.1f %%)",
        seconds,
        len(b),
        int(old.sum()),
        int(b["population"].sum()),
        int(b["households"].sum()),
        100 * share(slice(None)),
        100 * share(old),
        100 * share(~old),
    )
    LOG.info("sites by kind: %s", s["kind"].value_counts().to_dict())
    LOG.info("existing by type: %s", e["type"].value_counts().to_dict())
    LOG.info(
        "streets: %d segments, %d nodes, %d components (largest %.1f %%), %d bridges, "
        "%d rail crossings; blocks with a >= 350 m2 site within 230 m: %.1f %%",
        len(w),
        n_nodes,
        len(sizes),
        100 * sizes[0] / n_nodes,
        n_bridges,
        n_cross,
        100 * site_coverage(b, s),
    )


def write_city(layers: dict[str, gpd.GeoDataFrame], path: str | os.PathLike[str]) -> Path:
    """Write the layers to one GeoPackage, atomically.

    The file is written to a temporary name in the same folder and moved over ``path`` only
    when complete, so readers never see a half-written file.

    Parameters
    ----------
    layers : dict of str to geopandas.GeoDataFrame
        Layer name to table, as returned by :func:`generate_city`.
    path : str or os.PathLike
        Destination ``.gpkg``.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.gpkg", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Generate the synthetic Dezhou-like sample district as a GeoPackage."
    )
    parser.add_argument(
        "--residents",
        type=int,
        default=DEFAULT_RESIDENTS,
        help="total residents (default %(default)s; 1200000 = full city)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("sample_city.gpkg"),
        help="output GeoPackage (default data/sample_city.gpkg)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    layers = generate_city(residents=args.residents, seed=args.seed)
    out = write_city(layers, args.out)
    LOG.info(
        "wrote %s (%.2f MB) in %.1f s total",
        out,
        out.stat().st_size / 1e6,
        time.perf_counter() - t0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
