"""Words for the deliverables (report, maps, workbook) in Chinese or English.

One table of labels, keyed by a short name; :func:`label` looks one up for a language. Facility
type names come from the catalog (``label_zh`` / ``label_en``), never from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from optimizer.catalog import FacilityType
from optimizer.distances.base import DistanceEngine
from optimizer.distances.network import NetworkEngine
from optimizer.messages import GROUP_NAMES, LIST_SEPARATORS, translate
from optimizer.result import gap_percent

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "title": ("社区公共服务设施布点规划", "Community facility siting plan"),
    "subtitle": (
        "完整社区 · {minutes} 分钟社区生活圈",
        "Complete communities · {minutes}-minute life circles",
    ),
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
    "standard_sizes": ("标准规模", "Standard sizes"),
    "size_step_text": ("{step:g} m² 的整数倍", "multiples of {step:g} m²"),
    "size_classes_text": ("{classes} m²", "{classes} m²"),
    "size_any": ("规模范围内任意", "any size within the range"),
    "cost_per_resident": ("每新增服务一人投资", "Cost per resident"),
    "cost_flag": ("人均投资偏高", "high cost per resident"),
    "cost_flag_note": (
        "“人均投资偏高”：该行每新增服务一名目标人口的投资（投资 ÷ 新增服务人口）高于该类设施的"
        "阈值（设施标准中的 cost_per_resident_flag；未设定时取本方案同类设施各行的第 {pct:g} "
        "百分位，设有 max_cost_per_resident 时不高于该上限）；未新增服务人口的行（人均投资显示"
        "为“—”）一并标注。本方案共标注 {flagged} 行。阈值：{thresholds}。",
        "“High cost per resident”: the row's cost per target resident newly served (cost ÷ "
        "newly served) is above its type's threshold (the catalog's cost_per_resident_flag; "
        "without one, the {pct:g}th percentile of the type's rows in this plan, capped at "
        "max_cost_per_resident when set); rows serving no new target resident (shown “—”) are "
        "flagged too. {flagged} rows flagged. Thresholds: {thresholds}.",
    ),
    "per_resident": ("元/人", "yuan per resident"),
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

TARGET_GROUPS: dict[str, tuple[str, str]] = GROUP_NAMES

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


NEED_BASES: dict[str, tuple[str, str]] = {
    "households": ("户", "households"),
    "population": ("常住人口", "population"),
    "target": ("目标人群", "target"),
}


def need_text(t: FacilityType, lang: Lang = "en") -> str:
    """A type's need rule in one line, e.g. ``20 (new) / 15 (old) m2 per 100 households``
    (``每 100 户 20 m²（新区）/ 15 m²（老区）`` in Chinese)."""
    amount = t.need_amount
    same = amount.get("new") == amount.get("old")
    new, old = f"{amount.get('new', 0):g}", f"{amount.get('old', 0):g}"
    if lang == "zh":
        unit = unit_label(t.capacity_unit, lang)
        basis = NEED_BASES.get(t.need_basis, (t.need_basis, t.need_basis))[0]
        value = f"{new} {unit}" if same else f"{new} {unit}（新区）/ {old} {unit}（老区）"
        return f"每 {t.need_per:g} {basis} {value}"
    value = new if same else f"{new} (new) / {old} (old)"
    return f"{value} {t.capacity_unit} per {t.need_per:g} {t.need_basis}"


def size_text(t: FacilityType, lang: Lang) -> str:
    """A type's standard sizes in words (catalog ``size_classes_m2`` / ``size_step_m2``)."""
    if t.size_classes_m2:
        classes = LIST_SEPARATORS[lang].join(f"{a:g}" for a in t.size_classes_m2)
        return label("size_classes_text", lang, classes=classes)
    if t.size_step_m2 is not None:
        return label("size_step_text", lang, step=t.size_step_m2)
    return label("size_any", lang)


def fitout_text(t: FacilityType, lang: Lang) -> str:
    """A type's default fit-out rate and its multiplier on a site's own rate."""
    unit = "元/m²" if lang == "zh" else "yuan/m²"
    return f"{t.fitout_cost_per_m2:,.0f} {unit} · ×{t.fitout_multiplier:g}"


def type_sources(t: FacilityType, lang: Lang) -> dict[str, str]:
    """Where a type's numbers come from, in ``lang`` (the catalog's ``sources_zh`` in Chinese,
    its English source where a field has no Chinese one)."""
    if lang != "zh":
        return dict(t.sources)
    zh = dict(getattr(t, "sources_zh", None) or {})
    return {k: zh.get(k, v) for k, v in t.sources.items()} | {
        k: v for k, v in zh.items() if k not in t.sources
    }


# --------------------------------------------------------------------------- life circles

CIRCLE_LIMITS_M = ((300.0, 5), (500.0, 10), (1000.0, 15))
"""The life-circle level a walking limit belongs to (GB 50180-2018: 5 minutes ~ 300 m,
10 minutes ~ 500 m, 15 minutes ~ 800-1,000 m); a limit beyond 1,000 m counts as 15."""


def circle_minutes(walk_limit_m: float) -> int:
    """The life-circle level (minutes) of a walking limit."""
    return next((m for limit, m in CIRCLE_LIMITS_M if walk_limit_m <= limit + 1e-9), 15)


def circle_subtitle(walk_limits_m: Iterable[float], lang: Lang) -> str:
    """The report's banner from the walking limits actually used: ``5 分钟`` for a plan at
    300 m, ``5/15 分钟`` when its types use both (15 when no limit is known)."""
    minutes = sorted({circle_minutes(float(w)) for w in walk_limits_m}) or [15]
    return label("subtitle", lang, minutes="/".join(str(m) for m in minutes))


# --------------------------------------------------------------------------- run texts

PHASES: dict[str, tuple[str, str]] = {
    "coverage": ("覆盖", "coverage"),
    "cost": ("投资", "cost"),
    "walk": ("步行距离", "walk"),
    "build": ("建模", "build"),
    "plan": ("方案", "plan"),
    "baseline": ("现状基线", "baseline"),
    "essential": ("关键站点校核", "essential"),
    "probe": ("试算", "probe"),
    "diagnosis": ("诊断", "diagnosis"),
    "heuristic": ("启发式", "heuristic"),
    "decomposition": ("分解", "decomposition"),
}

TIMINGS: dict[str, tuple[str, str]] = {
    "inputs": ("读取输入", "inputs"),
    "distances": ("距离计算", "distances"),
    "optimise": ("优化", "optimise"),
    "essential": ("关键站点校核", "essential"),
    "limit": ("时间上限", "limit"),
    "elapsed": ("总用时", "elapsed"),
    "deliverables": ("成果输出", "deliverables"),
}

STOPS: dict[str, str] = {
    "time limit": "达到时间上限后停止",
    "gap reached": "达到设定间隙后停止",
    "iteration limit": "达到迭代上限后停止",
    "interrupted": "被中断",
}


def phase_label(name: str, lang: Lang) -> str:
    """A solve phase in words: ``coverage``, ``assign-walk`` (re-assignment), ``plan:build``."""
    if lang != "zh":
        return name
    if ":" in name:
        head, _, tail = name.partition(":")
        return f"{phase_label(head, lang)}：{phase_label(tail, lang)}"
    if name.startswith("assign-"):
        return f"重新分配（{phase_label(name.removeprefix('assign-'), lang)}）"
    pair = PHASES.get(name)
    return name if pair is None else pair[0]


def timing_label(name: str, lang: Lang) -> str:
    """A stage timing's name (``inputs_s``, ``plan:coverage``) in words."""
    if lang != "zh":
        return name
    key = name.removesuffix("_s")
    pair = TIMINGS.get(key)
    return pair[0] if pair is not None else phase_label(key, lang)


def status_word(status: str, lang: Lang) -> str:
    """A solver status (``OPTIMAL``, ``FEASIBLE``, ...) in words; other statuses as they are."""
    if lang != "zh":
        return status
    return {
        "OPTIMAL": label("status_OPTIMAL", lang),
        "FEASIBLE": label("status_FEASIBLE", lang),
        "INFEASIBLE": "无可行解",
        "NO_SOLUTION": label("status_other", lang),
        "SKIPPED": "已跳过",
    }.get(status, status)


def headline_text(summary: Mapping[str, Any], lang: Lang) -> str:
    """The run's headline: the summary's own in English; in Chinese, rebuilt from its status,
    gap and weakest phase (the phase that stopped short of a proof, when there is one)."""
    if lang != "zh":
        return str(summary.get("headline") or summary.get("status"))
    weak = summary.get("weakest_phase") or None
    if not weak:
        gap = finite(summary.get("gap"))
        gap_text = f"间隙 {gap_percent(gap)}" if gap is not None else "间隙未知"
        return f"{status_word(str(summary.get('status')), lang)}，{gap_text}"
    stop = STOPS.get(str(weak.get("stop") or ""), "已停止")
    gap = finite(weak.get("gap"))
    gap_text = f"间隙 {gap_percent(gap)}" if gap is not None else "间隙未知"
    phase = phase_label(str(weak.get("phase")), lang)
    return f"{label('status_FEASIBLE', lang)}：{phase}阶段{stop}，{gap_text}"


def display_names(ftypes: Mapping[str, FacilityType | None], lang: Lang) -> dict[str, str]:
    """Ids in words for :func:`optimizer.messages.render`: facility types (short names) and
    capacity units."""
    names = {key: short_type_label(t, key, lang) for key, t in ftypes.items()}
    names |= {unit: unit_label(unit, lang) for unit in UNITS}
    steps = [*PHASES, "assign-coverage", "assign-walk", "assign-cost"]
    return {step: phase_label(step, lang) for step in steps if step not in names} | names


def localized(
    text: Any,
    lang: Lang,
    summary: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
) -> str:
    """A text the run wrote in English (reason, note, check, model), in ``lang`` when the
    run recorded its messages (``summary["phrases"]``); otherwise as it is."""
    value = "" if text is None else str(text)
    return translate(value, lang, summary.get("phrases"), names)


def distance_text(summary: Mapping[str, Any], engine: DistanceEngine | None, lang: Lang) -> str:
    """How the distances were computed: the run's own note in English; in Chinese, the same
    facts from the run's engine (the mode in words when the engine is not at hand)."""
    if lang != "zh":
        return str(summary.get("distance_note") or "")
    if isinstance(engine, NetworkEngine):
        net = engine.network
        return (
            f"沿道路网络的步行距离（{net.source}：{net.n_nodes:,} 个节点，{net.n_edges:,} 条路段；"
            f"各点接入 {engine.snap_tolerance_m:g} 米内最近的道路，计入接入段）"
        )
    mode = str(summary.get("distance_mode"))
    if mode == "euclidean" and summary.get("detour_factor") is not None:
        return f"直线距离 × 绕行系数 {summary.get('detour_factor')}（未使用道路网络）"
    return label(f"mode_{mode}", lang) if mode in ("network", "euclidean", "table") else ""


COLUMNS: dict[str, str] = {
    # column key (the CSV contract) -> Chinese header for the workbook
    "rank": "序号",
    "year": "年度",
    "site_id": "站点编号",
    "site_name": "站点名称",
    "facility_type": "设施类型",
    "floor_area_m2": "建筑面积 (m²)",
    "capacity": "规模",
    "cost": "投资（元）",
    "newly_covered": "新增服务人口",
    "cost_per_resident": "每新增服务一人投资（元）",
    "cost_flag": "人均投资偏高",
    "cumulative_cost": "累计投资（元）",
    "cumulative_coverage_pct": "累计覆盖率 (%)",
    "reason": "选址理由",
    "essential": "关键站点",
    "block_id": "街区编号",
    "target_population": "目标人口",
    "covered_before": "规划前覆盖",
    "covered_after": "规划后覆盖",
    "walk_m": "步行距离 (m)",
    "served_by": "主要服务设施",
    "coverable": "可覆盖",
    "need": "需求规模",
    "served_share_before": "规划前服务比例",
    "served_share_after": "规划后服务比例",
    "covered_from_year": "覆盖起始年度",
    "target_group": "目标人群",
    "target_total": "目标人口",
    "uncoverable_blocks": "无候选站点可达的街区数",
    "uncoverable_residents": "无候选站点可达的目标人口",
    "facilities_built": "新建设施数",
    "capacity_built": "新增规模",
    "capacity_needed": "需求规模",
    "fitout_cost": "装修改造费（元）",
    "covered_before_pct": "规划前覆盖率 (%)",
    "covered_after_pct": "规划后覆盖率 (%)",
    "area_type": "片区类型",
    "blocks": "街区数",
    "budget": "预算（元）",
    "spent": "已安排（元）",
    "sites": "站点数",
    "coverage_pct": "平均覆盖率 (%)",
    "status": "状态",
    "gap": "最优性间隙",
    "scenario": "情景",
    "label": "情景",
    "key": "编号",
    "cost_used": "已用投资（元）",
    "coverage_points": "覆盖得分",
    "facilities": "新建设施数",
    "covered": "服务人口",
    "services_covered": "各类服务人数合计",
    "distinct_residents_covered": "所需服务全部获得的居民",
    "monotone": "单调",
    "error": "错误",
    "solve_s": "求解用时 (秒)",
}


def column_name(key: str, lang: Lang, names: Mapping[str, str] | None = None) -> str:
    """A column in words: the key in English; in Chinese its name (``coverage_pct:nursery``
    as ``平均覆盖率 (%)：托育``, the type through ``names``), the key when it has none."""
    base, _, rest = key.partition(":")
    name = COLUMNS.get(base) if lang == "zh" else None
    if name is None:
        return key
    return f"{name}：{(names or {}).get(rest, rest)}" if rest else name


def column_header(key: str, lang: Lang) -> str:
    """A workbook column's header: the contract key in English; in Chinese, its name above
    the key (``序号`` / ``rank``), so a sheet still matches its CSV by :func:`column_key`."""
    name = column_name(key, lang)
    return key if name == key else f"{name}\n{key}"


def column_key(header: str) -> str:
    """The contract key of a header written by :func:`column_header` (its last line)."""
    return header.rsplit("\n", 1)[-1]
