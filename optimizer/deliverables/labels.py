"""Words for the deliverables (report, maps, workbook) in Chinese or English.

One table of labels, keyed by a short name; :func:`label` looks one up for a language. Facility
type names come from the catalog (``label_zh`` / ``label_en``), never from here.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from optimizer.catalog import FacilityType

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "title": ("社区公共服务设施布点规划", "Community facility siting plan"),
    "subtitle": ("完整社区 · 15 分钟社区生活圈", "Complete communities · 15-minute life circles"),
    "headline": ("核心指标", "Headline figures"),
    "total_cost": ("总投资", "Total cost"),
    "sites_opened": ("启用站点", "Sites opened"),
    "facilities_built": ("新建设施", "Facilities built"),
    "coverage_mean": ("平均覆盖率", "Mean coverage"),
    "coverage_mean_note": (
        "各类设施目标人群覆盖率的平均值",
        "mean over facility types of the share of target residents served",
    ),
    "solver_status": ("求解状态", "Solver status"),
    "status_OPTIMAL": ("已证明最优", "proven optimal"),
    "status_OPTIMAL_TOL": ("在设定间隙内最优", "optimal within the set gap"),
    "status_FEASIBLE": ("可行解（未证明最优）", "feasible, not proven optimal"),
    "status_other": ("无可用解", "no usable solution"),
    "gap": ("最优性间隙", "optimality gap"),
    "bound": ("界", "Bound"),
    "gap_header": ("最优性间隙", "Optimality gap"),
    "checks": ("{n} 项校核", "{n} checks"),
    "before": ("规划前", "Before"),
    "after": ("规划后", "After"),
    "arrow_before_after": ("规划前 → 规划后", "before → after"),
    "notes": ("说明", "Notes"),
    "per_type": ("分类型覆盖", "Coverage by facility type"),
    "per_area": ("新区与老区覆盖", "Coverage in new and old areas"),
    "per_area_missing": (
        "街区表没有 area_type 列，无法区分新区与老区。",
        "The blocks table has no area_type column: new and old areas are not told apart.",
    ),
    "area_new": ("新建区", "new area"),
    "area_old": ("老旧小区", "old area"),
    "area_unknown": ("未标注", "not stated"),
    "area_type": ("片区类型", "Area"),
    "facility_type": ("设施类型", "Facility type"),
    "target_group": ("目标人群", "Target group"),
    "target_total": ("目标人口", "Target residents"),
    "covered_before": ("规划前覆盖", "Served before"),
    "covered_after": ("规划后覆盖", "Served after"),
    "coverage_change": ("覆盖率变化", "Coverage"),
    "blocks": ("街区数", "Blocks"),
    "uncoverable": ("无候选站点可达", "Out of reach of any site"),
    "uncovered_after": ("规划后仍未覆盖", "Still not served"),
    "capacity_built": ("新增规模", "Capacity built"),
    "capacity_needed": ("需求规模", "Capacity needed"),
    "fitout_cost": ("装修改造费", "Fit-out cost"),
    "construction_list": (
        "建设清单（按年度、按优先级排序）",
        "Construction list (by year, ranked)",
    ),
    "construction_list_note": (
        "同一年度内按“每元投资新增覆盖”从高到低排序；站点开办费计入该站点的第一行。",
        "Within a year, sites are ranked by coverage gained per yuan; a site's opening cost is "
        "counted on its first row.",
    ),
    "year": ("年度", "Year"),
    "year_none": ("未分年度", "no year"),
    "budget": ("预算", "Budget"),
    "spent": ("已安排", "Spent"),
    "budget_use": ("预算使用", "Budget used"),
    "no_budget": ("未设年度预算", "no annual budget set"),
    "rank": ("序号", "Rank"),
    "site": ("站点", "Site"),
    "floor_area": ("建筑面积 (m²)", "Floor area (m²)"),
    "capacity": ("规模", "Capacity"),
    "cost": ("投资", "Cost"),
    "newly_covered": ("新增服务人口", "Newly served"),
    "cumulative_cost": ("累计投资", "Cumulative cost"),
    "cumulative_coverage": ("累计覆盖率", "Cumulative coverage"),
    "reason": ("选址理由", "Reason"),
    "essential": ("关键站点", "essential"),
    "subtotal": ("小计", "Subtotal"),
    "total": ("合计", "Total"),
    "maps": ("地图", "Maps"),
    "map_sites": ("选定站点（按设施类型）", "Chosen sites by facility type"),
    "map_coverage": ("覆盖情况", "Coverage"),
    "map_uncovered": ("规划后仍未覆盖的街区", "Blocks still not served after the plan"),
    "map_service_areas": ("服务范围（步行可达范围）", "Service areas (walking reach)"),
    "map_curve": ("投资—覆盖曲线", "Cost–coverage curve"),
    "curve_note": (
        "按建设清单顺序累计：每一段前缀都是相应投资下的较优方案。",
        "Cumulative along the ranked list: every prefix of the list is a good plan for its cost.",
    ),
    "legend_covered": ("已覆盖", "served"),
    "legend_partly": ("部分覆盖", "partly served"),
    "legend_not": ("未覆盖", "not served"),
    "legend_unreachable": ("无候选站点可达", "no candidate site in reach"),
    "legend_no_target": ("无目标人群", "no target residents"),
    "legend_existing": ("现有设施", "existing facility"),
    "legend_new": ("新建设施", "new facility"),
    "legend_blocks": ("街区", "blocks"),
    "legend_streets": ("道路", "streets"),
    "legend_n_types": ("未覆盖的设施类型数", "facility types not served"),
    "legend_existing_area": ("现有设施服务范围", "existing facilities' reach"),
    "legend_new_area": ("新建设施服务范围", "new facilities' reach"),
    "north": ("北", "N"),
    "axis_cost": ("累计投资（万元）", "Cumulative cost (million yuan)"),
    "axis_coverage": ("平均覆盖率 (%)", "Mean coverage (%)"),
    "axis_budget": ("预算（万元）", "Budget (million yuan)"),
    "comparison": ("预算情景比较", "Budget scenarios compared"),
    "assumptions": ("依据与假设", "Standards and assumptions"),
    "standards": ("采用的配置标准", "Standards used"),
    "walk_limit": ("步行距离上限", "Walking limit"),
    "level": ("生活圈层级", "Life circle"),
    "need_rule": ("配置指标", "Need"),
    "size_range": ("单处规模 (m²)", "Facility size (m²)"),
    "fitout_rule": ("装修改造单价", "Fit-out cost"),
    "priority": ("权重", "Priority"),
    "sources": ("依据", "Sources"),
    "distance": ("距离计算", "Walking distances"),
    "distance_mode": ("距离模式", "Distance mode"),
    "detour_factor": ("绕行系数", "Detour factor"),
    "costs": ("费用假设", "Cost assumptions"),
    "cost_rule": (
        "站点开办费取自候选站点表（每个站点只计一次，无论承载几类设施）；装修改造费 = 建筑面积 × "
        "单价（站点给出 cost_per_m2 时按其乘以该类设施系数，否则取标准默认单价）。",
        "A site's fixed cost comes from the sites table and is paid once, however many types "
        "it hosts; fit-out = floor area × rate (the site's cost_per_m2 times the type's "
        "multiplier, or the catalog default when the site gives none).",
    ),
    "solver": ("求解", "Solver"),
    "model": ("模型", "Model"),
    "phases": ("求解阶段", "Solve phases"),
    "objective": ("目标", "Objective"),
    "time_s": ("用时 (秒)", "Time (s)"),
    "status": ("状态", "Status"),
    "verify": ("独立校核", "Independent verification"),
    "verify_passed": ("通过", "passed"),
    "verify_failed": ("未通过", "FAILED"),
    "run": ("运行信息", "Run"),
    "scenario": ("情景", "Scenario"),
    "fields": ("字段说明", "Columns"),
    "run_id": ("运行编号", "Run id"),
    "created": ("生成时间", "Created"),
    "version": ("软件版本", "Software version"),
    "inputs": ("输入文件 (SHA-256)", "Input files (SHA-256)"),
    "crs": ("坐标系", "CRS"),
    "counts": ("规模", "Size"),
    "counts_text": (
        "{blocks} 个街区，{sites} 个候选站点，{existing} 处现有设施",
        "{blocks} blocks, {sites} candidate sites, {existing} existing facilities",
    ),
    "timings": ("各阶段用时", "Stage timings"),
    "font_warning": (
        "未找到中文字体，地图标注改用英文（安装 fonts-noto-cjk 后可显示中文）。",
        "No CJK font was found: map labels are in English (install fonts-noto-cjk).",
    ),
    "generated_by": ("由 siting {version} 生成", "Generated by siting {version}"),
    "unit_wan": ("万元", "yuan"),
    "people": ("人", "residents"),
    "mode_network": ("沿道路网络步行距离", "walking distance along the street network"),
    "mode_euclidean": ("直线距离 × 绕行系数", "straight-line distance × detour factor"),
    "mode_table": ("外部提供的距离表", "precomputed distance table"),
    "contents": ("目录", "Contents"),
    "residents_served": ("服务人口", "Residents served"),
    "share": ("占比", "Share"),
}

TARGET_GROUPS: dict[str, tuple[str, str]] = {
    "population": ("常住人口", "residents"),
    "pop_60_plus": ("60 岁及以上老人", "residents aged 60+"),
    "pop_0_2": ("0–2 岁婴幼儿", "children aged 0-2"),
    "pop_3_5": ("3–5 岁幼儿", "children aged 3-5"),
}

LEVELS: dict[str, tuple[str, str]] = {
    "5min": ("5 分钟生活圈", "5-minute circle"),
    "10min": ("10 分钟生活圈", "10-minute circle"),
    "15min": ("15 分钟生活圈", "15-minute circle"),
}


def check_lang(lang: str) -> Lang:
    """``lang`` if it is a supported language, else ValueError."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return lang


def label(key: str, lang: Lang, **fields: object) -> str:
    """The label ``key`` in ``lang``, with ``{name}`` fields filled in."""
    zh, en = LABELS[key]
    text = zh if lang == "zh" else en
    return text.format(**fields) if fields else text


def type_label(ftype: FacilityType | None, key: str, lang: Lang) -> str:
    """A facility type's name from the catalog (the key when the type is unknown)."""
    if ftype is None:
        return key
    return ftype.label_zh if lang == "zh" else ftype.label_en


def short_type_label(ftype: FacilityType | None, key: str, lang: Lang) -> str:
    """A facility type's short name: its catalog name up to the first " / "."""
    return type_label(ftype, key, lang).split(" / ")[0].strip()


def group_label(group: str, lang: Lang) -> str:
    """A target group (a population column) in words."""
    pair = TARGET_GROUPS.get(group)
    return group if pair is None else pair[0] if lang == "zh" else pair[1]


def level_label(level: str, lang: Lang) -> str:
    """A life-circle level in words."""
    pair = LEVELS.get(level)
    return level if pair is None else pair[0] if lang == "zh" else pair[1]


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not a number or not finite."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


UNITS: dict[str, tuple[str, str]] = {
    "m2": ("m²", "m²"),
    "places": ("托位", "places"),
    "seats": ("学位", "seats"),
    "beds": ("床位", "beds"),
}


def unit_label(unit: str, lang: Lang) -> str:
    """A capacity unit in words (m2 as m²)."""
    pair = UNITS.get(unit)
    return unit if pair is None else pair[0] if lang == "zh" else pair[1]


def money(amount: Any, lang: Lang, *, unit: bool = True) -> str:
    """An amount of yuan for reading: 万元 in Chinese, yuan (or million yuan) in English."""
    value = finite(amount)
    if value is None:
        return "—"
    if lang == "zh":
        text = f"{value / 1e4:,.1f}"
        return f"{text} 万元" if unit else text
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f} million yuan" if unit else f"{value / 1e6:,.2f} M"
    return f"{value:,.0f} yuan" if unit else f"{value:,.0f}"


def money_cell(amount: Any, lang: Lang) -> str:
    """An amount of yuan for a table cell: 万元 with one decimal (zh) or whole yuan (en)."""
    value = finite(amount)
    if value is None:
        return "—"
    return f"{value / 1e4:,.1f}" if lang == "zh" else f"{value:,.0f}"


def money_unit(lang: Lang) -> str:
    """The unit of :func:`money_cell`."""
    return "万元" if lang == "zh" else "yuan"


def pct(percent: Any, digits: int = 1) -> str:
    """A percentage (value already in percent) or a dash."""
    value = finite(percent)
    if value is None:
        return "—"
    return f"{value:.{digits}f}%"


def need_text(t: FacilityType) -> str:
    """A type's need rule in one line, e.g. ``20 (new) / 15 (old) m2 per 100 households``."""
    amount = t.need_amount
    if amount.get("new") == amount.get("old"):
        value = f"{amount.get('new', 0):g}"
    else:
        value = f"{amount.get('new', 0):g} (new) / {amount.get('old', 0):g} (old)"
    return f"{value} {t.capacity_unit} per {t.need_per:g} {t.need_basis}"
