"""The data-quality report of ``siting prepare``: what was read, what was assumed, what to fix.

Written as ``quality.md`` (for people) and ``quality.json`` (the same facts for programs). It
states every assumption with its value and source (persons per m², default storeys, household
size, age shares), the tag rules that chose housing, candidate sites and existing facilities,
the counts they gave, and the street network's connected pieces: how many, which blocks and
sites sit on cut-off pieces, how far each piece is from the main one, and the remedy
(``network.connect_gaps_m``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optimizer.errors import preview_ids
from optimizer.outputs import atomic_write
from optimizer.prepare.recipe import KIND_COST_SOURCES, Recipe, assumption_rows

PIECES_SHOWN = 20


@dataclass
class QualityReport:
    """Everything the report says, gathered while preparing."""

    recipe: Recipe
    crs: str
    crs_reason: str
    demand_notes: list[str]
    demand_stats: Mapping[str, object]
    totals: Mapping[str, float]
    n_blocks: int
    site_notes: list[str]
    sites_by_kind: Mapping[str, int]
    existing_notes: list[str]
    existing_by_type: Mapping[str, int]
    network: Mapping[str, object] | None = None
    pieces: Sequence[Mapping[str, object]] = ()
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "recipe": str(self.recipe.path),
            "name": self.recipe.name,
            "crs": self.crs,
            "crs_reason": self.crs_reason,
            "assumptions": [
                {"name": n, "value": v, "source": s}
                for n, v, s in assumption_rows(self.recipe.assumptions)
            ],
            "site_costs": {"by_kind": dict(self.recipe.kind_costs), "source": KIND_COST_SOURCES},
            "tag_rules": {
                "sites": [r.describe() for r in self.recipe.site_rules],
                "existing": [r.describe() for r in self.recipe.existing_rules],
            },
            "demand": {
                "source": self.recipe.demand_source,
                "blocks": self.n_blocks,
                "totals": dict(self.totals),
                "notes": self.demand_notes,
                "stats": dict(self.demand_stats),
            },
            "sites": {"by_kind": dict(self.sites_by_kind), "notes": self.site_notes},
            "existing": {"by_type": dict(self.existing_by_type), "notes": self.existing_notes},
            "network": dict(self.network) if self.network is not None else None,
            "network_pieces": list(self.pieces),
            "warnings": self.warnings,
        }


def network_remedy(facts: Mapping[str, object], pieces: Sequence[Mapping[str, object]]) -> str:
    """What to do about blocks and sites on cut-off pieces, in one paragraph."""
    blocks = list(facts.get("blocks_cut_off", []))  # type: ignore[call-overload]
    sites = list(facts.get("sites_cut_off", []))  # type: ignore[call-overload]
    if not blocks and not sites:
        return "Every block and site joins the main piece of the network."
    used = [p for p in pieces if int(p["piece"]) > 0 and (int(p["blocks"]) or int(p["sites"]))]  # type: ignore[call-overload]
    needed = max((float(p["gap_to_main_m"]) for p in used), default=0.0)  # type: ignore[arg-type]
    text = (
        f"{len(blocks)} blocks and {len(sites)} sites sit on pieces cut off from the main "
        "network: they walk only within their piece, so the plan undercounts who they reach. "
        "Remedy: fix the streets in the source (a missing footway, gate or crossing), or set "
        f"`network: {{connect_gaps_m: G}}` in the recipe to join pieces by straight connectors "
        f"of at most G metres (flagged as assumed); G = {needed:.0f} m joins every piece that "
        "holds a block or site to the main one."
    )
    gap = float(facts.get("connect_gaps_m", 0.0))  # type: ignore[arg-type]
    if gap > 0:
        text += (
            f" With connect_gaps_m = {gap:g}: {facts['connectors']} connectors "
            f"({float(facts['connector_length_m']):,.0f} m, assumed) leave "  # type: ignore[arg-type]
            f"{facts['pieces_after_connect']} pieces; "
            f"{len(facts['blocks_cut_off_after_connect'])} blocks and "  # type: ignore[arg-type]
            f"{len(facts['sites_cut_off_after_connect'])} sites remain cut off."  # type: ignore[arg-type]
        )
    return text


def write_quality(report: QualityReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``quality.md`` and ``quality.json``; return their paths."""
    md_path, json_path = out_dir / "quality.md", out_dir / "quality.json"
    text = json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=_jsonable)
    atomic_write(json_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    markdown = render_markdown(report)
    atomic_write(md_path, lambda tmp: tmp.write_text(markdown, encoding="utf-8"))
    return md_path, json_path


def _jsonable(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    if isinstance(value, Path):
        return str(value)
    return str(value)


def render_markdown(report: QualityReport) -> str:
    """The report as Markdown."""
    r = report.recipe
    lines = [
        f"# Data-quality report: {r.name}",
        "",
        f"Prepared by `siting prepare` from `{r.path.name}`. CRS **{report.crs}** "
        f"({report.crs_reason}).",
        "",
        "## Assumptions (override under `assumptions:` in the recipe)",
        "",
        "| assumption | value | source |",
        "|---|---|---|",
        *[f"| `{n}` | {v} | {s} |" for n, v, s in assumption_rows(r.assumptions)],
        "",
        "Opening cost of a candidate site by kind (override under `sites.costs`): "
        + "; ".join(
            f"{k}: {v.get('fixed_cost', 0):,.0f} yuan + {v.get('fixed_cost_per_m2', 0):,.0f} "
            "yuan/m²"
            for k, v in r.kind_costs.items()
        )
        + f". {KIND_COST_SOURCES}.",
        "",
        "## Demand",
        "",
        f"{report.n_blocks} blocks from {r.demand_source}; totals: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in report.totals.items())
        + ".",
        "",
        *[f"- {n}" for n in report.demand_notes],
        "",
        "## Candidate sites",
        "",
        "By kind: " + (", ".join(f"{k} {n}" for k, n in report.sites_by_kind.items()) or "none"),
        "",
        *[f"- {n}" for n in report.site_notes],
        "",
        "## Existing facilities",
        "",
        "By type: " + (", ".join(f"{k} {n}" for k, n in report.existing_by_type.items()) or "none"),
        "",
        *[f"- {n}" for n in report.existing_notes],
        "",
    ]
    if r.osm is not None:
        lines += [
            "## OSM tag rules (override with `sites.osm_rules`, `existing.osm_rules`)",
            "",
            "Housing: `building` = residential, apartments, house, detached, dormitory, terrace, "
            "semidetached_house; or `building=yes` inside a `landuse=residential` compound; "
            "never a building with an amenity, shop, office, healthcare or tourism tag. "
            "Buildings are grouped into the compound that holds them.",
            "",
            *[f"- site: {rule.describe()}" for rule in r.site_rules],
            *[f"- existing: {rule.describe()}" for rule in r.existing_rules],
            "",
        ]
    lines += _network_section(report)
    if report.warnings:
        lines += ["## Warnings", "", *[f"- {w}" for w in report.warnings], ""]
    return "\n".join(lines)


def _network_section(report: QualityReport) -> list[str]:
    facts = report.network
    if facts is None:
        return ["## Street network", "", "None given: distances are straight lines.", ""]
    out = [
        "## Street network",
        "",
        f"{facts['segments']} segments, {float(facts['length_km']):,.1f} km, "  # type: ignore[arg-type]
        f"**{facts['pieces']} connected pieces** (layer `network_pieces`; piece 0 is the "
        "largest).",
        "",
        "| piece | segments | length m | blocks | sites | gap to main m | joined |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in list(report.pieces)[:PIECES_SHOWN]:
        out.append(
            f"| {p['piece']} | {p['segments']} | {float(p['length_m']):,.0f} | {p['blocks']} | "  # type: ignore[arg-type]
            f"{p['sites']} | {float(p['gap_to_main_m']):,.0f} | "  # type: ignore[arg-type]
            f"{'yes' if p['main_after_connect'] else 'no'} |"
        )
    if len(report.pieces) > PIECES_SHOWN:
        out.append(f"| … {len(report.pieces) - PIECES_SHOWN} more | | | | | | |")
    out += [""]
    for key, what in (
        ("blocks_cut_off", "Blocks on cut-off pieces"),
        ("sites_cut_off", "Sites on cut-off pieces"),
        ("blocks_unsnapped", "Blocks farther than the snap tolerance from any street"),
        ("sites_unsnapped", "Sites farther than the snap tolerance from any street"),
    ):
        ids = list(facts.get(key, []))  # type: ignore[call-overload]
        if ids:
            out.append(f"- {what} ({len(ids)}): {preview_ids(ids, 30)}")
    out += ["", f"**Remedy.** {network_remedy(facts, report.pieces)}", ""]
    return out
