"""Sentences the run writes for planners (reasons, notes, checks), as a code and parameters.

A :class:`Message` is rendered in English for the CSV files and ``summary.json`` (the texts
the contract has always held) and in Chinese for a ``--lang zh`` report and workbook. The
run records, beside its English texts, the messages they came from (``summary["phrases"]``:
English text -> its messages), so the deliverables translate what they read back from the
summary or the CSV, whoever reordered or prepended it, and leave any text with no recorded
message as it is.

Parameters named ``type``, ``types``, ``group``, ``unit`` and ``phase`` hold ids (a facility
type key, a population column, a capacity unit, a solve step); the renderer shows them through
``names`` (id -> words in the language; the deliverables give the catalog's names), falling
back to the id itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Lang = Literal["zh", "en"]
Param = str | int | float | bool | list[str]

NAMED_PARAMS = ("type", "group", "unit", "phase")
"""Parameters holding one id shown by its name (``types`` holds a list of them)."""

SEPARATORS: dict[str, str] = {"zh": "；", "en": "; "}
LIST_SEPARATORS: dict[str, str] = {"zh": "、", "en": ", "}

GROUP_NAMES: dict[str, tuple[str, str]] = {
    "population": ("常住人口", "residents"),
    "pop_60_plus": ("60 岁及以上老人", "residents aged 60+"),
    "pop_0_2": ("0–2 岁婴幼儿", "children aged 0-2"),
    "pop_3_5": ("3–5 岁幼儿", "children aged 3-5"),
}
"""Target groups (population columns) in words, (zh, en)."""

TEXTS: dict[str, tuple[str, str]] = {
    # code: (zh, en); {name:spec} fields are filled from the message's parameters
    # --- reasons of a construction-list row (optimizer.plan)
    "reason_sole_one": (
        "{limit:g} 米内唯一可服务 {blocks} 个现有设施未覆盖街区的候选站点",
        "only candidate site within {limit:g} m of {blocks} block that no existing facility "
        "reaches",
    ),
    "reason_sole_many": (
        "{limit:g} 米内唯一可服务 {blocks} 个现有设施未覆盖街区的候选站点",
        "only candidate site within {limit:g} m of {blocks} blocks that no existing facility "
        "reaches",
    ),
    "reason_serves": (
        "规模 {capacity:,.0f} {unit}，新增服务{group} {newly:,.0f} 人",
        "capacity {capacity:,.0f} serves {newly:,.0f} more {group}",
    ),
    "reason_shares_site": (
        "与{types}共用站点并分摊开办费",
        "shares the site and its opening cost with {types}",
    ),
    "reason_co_located": (
        "同址设置：站点开办费计入该站点的第一行",
        "co-located: the site's opening cost is counted on its first row",
    ),
    "reason_committed": (
        "已批准项目（本规划前已确定，{year} 年）",
        "committed (decided before this plan, {year})",
    ),
    # --- essential sites (optimizer.pipeline)
    "essential_sole": (
        "关键站点：其部分服务街区仅此候选站点可达",
        "essential: the only candidate site reaching some of its blocks",
    ),
    "essential_infeasible": (
        "关键站点：缺少该站点则没有满足要求的方案",
        "essential: without it no plan meets the requirements",
    ),
    "essential_cost": (
        "关键站点：缺少该站点方案需多投资 {worse:,.0f} 元",
        "essential: without it the plan costs {worse:,.0f} yuan more",
    ),
    "essential_points": (
        "关键站点：缺少该站点覆盖得分减少 {worse:.3g}",
        "essential: without it the plan loses {worse:.3g} coverage points",
    ),
    # --- notes of a run (optimizer.pipeline)
    "note_budget_short": (
        "服务全部可达居民需投资 {cost:,.0f} 元，而预算合计 {budget:,.0f} 元：方案改为在预算内"
        "服务尽可能多的居民",
        "serving every reachable resident costs {cost:,.0f} yuan; the budgets allow "
        "{budget:,.0f}: the plan serves the most residents within the budgets instead",
    ),
    "note_capacity_short": (
        "并非所有可达街区都能被完全服务：部分街区附近候选站点的建筑面积和设施规模上限所能提供"
        "的容量不足；方案先按权重服务尽可能多的居民，再使投资最少",
        "not every reachable block can be served in full: the candidate sites' floor areas and "
        "the facility size limits leave too little capacity near some blocks; the plan serves "
        "the most (priority-weighted), then at least cost",
    ),
    "note_checks_skipped": (
        "{total} 项关键站点校核中有 {skipped} 项因已达到时间上限而跳过",
        "{skipped} of {total} essential-site checks were skipped: the time limit was reached "
        "before them",
    ),
    "note_step_skipped": (
        "{phase}步骤因已达到时间上限而跳过",
        "the {phase} step was skipped: the time limit was reached before it",
    ),
    "note_checks_open": (
        "{n} 项关键站点校核在限定时间内未找到方案",
        "{n} essential-site checks found no plan in their time",
    ),
    # --- the model (optimizer.pipeline)
    "model_min_cost_cover": (
        "min_cost_cover：以最少投资完全服务所有可达的目标人口（多类设施、一点多能、容量约束、"
        "分年度）",
        "min_cost_cover: serve every reachable target resident at least cost (multi-type, "
        "shared sites, capacities, phased)",
    ),
    "model_max_coverage": (
        "max_coverage：在预算内使按权重计的覆盖最大（分年度时按人·年计；多类设施、一点多能、"
        "容量约束）",
        "max_coverage: most priority-weighted coverage (resident-years when phased) within the "
        "budgets (multi-type, shared sites, capacities)",
    ),
    # --- independent verification (optimizer.verify)
    "check_site_years": (
        "各站点的改造年份不早于其可用年份 (available_year)",
        "each site converted no earlier than its available_year",
    ),
    "check_placement": (
        "{type}：设施均位于已改造且允许该类设施的站点",
        "{type}: facilities on converted sites that allow the type",
    ),
    "check_sizes": (
        "{type}：单处规模在 {low:g}–{high:g} m² 之间",
        "{type}: sizes within {low:g}-{high:g} m2",
    ),
    "check_service": (
        "{type}：仅由 {limit:g} 米内的已建设施服务，且不超过其容量",
        "{type}: service within {limit:g} m, by built facilities, within capacity",
    ),
    "check_floor_area": (
        "各站点的建筑面积足以容纳其设施",
        "floor area of each site holds its facilities",
    ),
    "check_budgets": (
        "各年度投资不超过当年预算",
        "each year's spending within its budget",
    ),
    "check_budgets_carry": (
        "各年度投资不超过当年预算（允许结转）",
        "each year's spending within its budget (with carry-over)",
    ),
    "check_full_service": (
        "{type}：所有可达街区均被完全服务",
        "{type}: every reachable block served in full",
    ),
    "check_target": (
        "{type}：第 {period} 期的覆盖目标",
        "{type}: coverage target of period {period}",
    ),
    "check_cost": (
        "报告的投资与按输入数据重新计算的投资一致",
        "reported cost equals the cost recomputed from the inputs",
    ),
    "check_committed": (
        "已批准项目保持不变：各已批准站点在其批准年份改造，设施类型与规模均与批准一致",
        "committed builds kept: each committed site converted in its year with exactly its "
        "committed types, at the committed sizes",
    ),
    "check_excluded": (
        "排除的站点均未使用",
        "excluded sites unused",
    ),
    "check_size_step": (
        "{type}：设施规模均为 {step} m² 的整数倍（标准规模）",
        "{type}: sizes are multiples of {step} m2 (standard sizes)",
    ),
    "check_size_classes": (
        "{type}：设施规模均为标准规模 {classes} m² 之一",
        "{type}: sizes are among the standard sizes {classes} m2",
    ),
    "check_cost_per_resident": (
        "{type}：每处设施的投资（含站点开办费）不超过其当年服务对象每人 {limit:,.0f} 元",
        "{type}: each facility costs (with its site's opening cost) at most {limit:,.0f} yuan "
        "per target resident it serves in its year",
    ),
}


@dataclass(frozen=True)
class Message:
    """One sentence as a code (a key of :data:`TEXTS`) and its parameters (JSON values)."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in TEXTS:
            raise KeyError(f"unknown message code {self.code!r}")

    @property
    def en(self) -> str:
        """The message in English (ids shown as they are, groups in words)."""
        return render(self, "en")

    def as_dict(self) -> dict[str, object]:
        """The message as JSON: ``{"code": ..., "params": {...}}``."""
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Message:
        """The message :meth:`as_dict` wrote."""
        params = data.get("params") or {}
        assert isinstance(params, Mapping)
        return cls(str(data["code"]), dict(params))


def message(code: str, **params: Param) -> Message:
    """A message with its parameters, e.g. ``message("check_cost")``."""
    return Message(code, params)


def _name(value: str, lang: Lang, names: Mapping[str, str]) -> str:
    """An id in words: the caller's name for it, a target group's, or the id."""
    if value in names:
        return names[value]
    if value in GROUP_NAMES:
        return GROUP_NAMES[value][0 if lang == "zh" else 1]
    return value


def render(msg: Message, lang: Lang, names: Mapping[str, str] | None = None) -> str:
    """``msg`` in ``lang``; ids in ``NAMED_PARAMS`` / ``types`` shown through ``names``."""
    names = names or {}
    zh, en = TEXTS[msg.code]
    fields: dict[str, object] = dict(msg.params)
    for key in NAMED_PARAMS:
        if key in fields:
            fields[key] = _name(str(fields[key]), lang, names)
    if "types" in fields:
        items = fields["types"]
        keys = items if isinstance(items, list) else [str(items)]
        fields["types"] = LIST_SEPARATORS[lang].join(_name(str(k), lang, names) for k in keys)
    return (zh if lang == "zh" else en).format(**fields)


def render_parts(
    parts: Sequence[Message], lang: Lang, names: Mapping[str, str] | None = None
) -> str:
    """Several messages as one text (``; `` between them in English, ``；`` in Chinese)."""
    return SEPARATORS[lang].join(render(m, lang, names) for m in parts)


def phrasebook(texts: Iterable[Sequence[Message]]) -> dict[str, list[dict[str, object]]]:
    """English text -> the messages it was made of, for ``summary["phrases"]``."""
    return {render_parts(parts, "en"): [m.as_dict() for m in parts] for parts in texts if parts}


def translate(
    text: str,
    lang: Lang,
    phrases: Mapping[str, Sequence[Mapping[str, object]]] | None,
    names: Mapping[str, str] | None = None,
) -> str:
    """``text`` in ``lang`` when ``phrases`` records its messages; else ``text`` as it is."""
    if lang == "en" or not phrases or text not in phrases:
        return text
    try:
        parts = [Message.from_dict(d) for d in phrases[text]]
    except (KeyError, AssertionError):  # a phrase from another version: show the text
        return text
    return render_parts(parts, lang, names)
