"""``--lang zh`` is Chinese through and through: the report's visible text holds no English
sentence outside proper names, ids, units and numbers; the workbook's headers are Chinese over
their contract keys; the banner names the life-circle level of the walking limits used; the
maps draw Chinese with the font the install ships."""

from __future__ import annotations

import html
import re
import string
from pathlib import Path

import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from openpyxl import load_workbook

from optimizer.deliverables import fonts
from optimizer.deliverables.labels import circle_minutes, circle_subtitle, column_key
from optimizer.messages import TEXTS, Message, message, phrasebook, render, translate
from optimizer.pipeline import PlanRun, run_plan
from optimizer.progress import capture_log
from tests.town import write_town

ALLOWED_WORDS = {
    # proper names, formats and ids a Chinese report names as they are
    "HiGHS",
    "highs",
    "OpenStreetMap",
    "GeoPackage",
    "CSV",
    "SHA",
    "EPSG",
    "GB",
    "siting",
    "gpkg",
    "csv",
    "yaml",
    "png",
    "xlsx",
    "json",
    "km",
    "m",
    "m²",
}
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ \t,;:()/-]+[A-Za-z][A-Za-z'’-]*){2,}")
"""Three or more English words in a row, separated by spaces or punctuation only."""
ID_LIKE = re.compile(r"\S*[_\d./\\]\S*")
"""Tokens with an underscore, digit, dot or slash: ids, keys, file names, paths, numbers."""


def visible_text(page: str) -> str:
    """The text a reader sees: no scripts, styles, tags or attributes; entities decoded."""
    page = re.sub(r"(?is)<(script|style)\b[^>]*>.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", "\n", page)
    return html.unescape(page)


def english_sentences(text: str, also_allowed: set[str] = frozenset()) -> list[str]:
    """Runs of three or more English words left once ids, file names and proper names are
    taken out (each run found, line by line)."""
    found = []
    for line in text.splitlines():
        line = ID_LIKE.sub(" ", line)
        words = [w for w in re.split(r"(\s+)", line)]
        line = "".join(
            " " if w.strip("(),;:") in ALLOWED_WORDS | also_allowed else w for w in words
        )
        found += [m.group(0) for m in ENGLISH_RUN.finditer(line)]
    return found


@pytest.fixture(scope="module")
def town_zh(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlanRun, Path]:
    """The grid town (two years, budgets, streets) planned with a Chinese report."""
    folder = tmp_path_factory.mktemp("town_zh")
    with capture_log():
        run = run_plan(write_town(folder), out_dir=folder / "out", lang="zh")
    assert run.out_dir is not None
    return run, run.out_dir


def test_the_scanner_finds_english_sentences_and_spares_ids_and_names() -> None:
    assert english_sentences("only candidate site within 300 m of 3 blocks")
    assert english_sentences("规模 350：capacity 350 serves 980 more residents")
    assert not english_sentences("HiGHS · 已证明最优 · elder_care · B01 · town.gpkg · 300 m")
    assert not english_sentences("EPSG:4548 · SHA-256 · siting 0.1.0 · GB 50180-2018")


@pytest.mark.slow
def test_the_chinese_report_holds_no_english_sentence(town_zh: tuple[PlanRun, Path]) -> None:
    run, out = town_zh
    text = visible_text((out / "report.html").read_text(encoding="utf-8"))
    # the scenario's own name and description are the user's words, shown as given
    for own in (run.summary.get("description"), run.scenario.name):
        text = text.replace(str(own or ""), " ")
    assert not english_sentences(text), english_sentences(text)
    # what used to be English is there in Chinese
    for needle in ("新增服务", "关键站点", "已建设施服务", "分钟生活圈", "每 100 户", "已核实"):
        assert needle in text, needle


def test_the_english_csv_reasons_read_back_in_chinese(town_zh: tuple[PlanRun, Path]) -> None:
    run, out = town_zh
    reasons = pd.read_csv(out / "construction_list.csv", encoding="utf-8-sig")["reason"]
    assert all(english_sentences(r) for r in reasons)  # the CSV contract stays English
    page = (out / "report.html").read_text(encoding="utf-8")
    for reason in reasons:
        zh = translate(reason, "zh", run.summary["phrases"])
        assert zh != reason and not english_sentences(zh)
        assert html.escape(reason) not in page


def test_the_banner_names_the_life_circle_of_the_limits_used(
    town_zh: tuple[PlanRun, Path],
) -> None:
    run, out = town_zh
    limits = {t.walk_limit_m for t in run.scenario.catalog.values()}
    assert limits == {300.0}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "完整社区 · 5 分钟社区生活圈" in page and "15 分钟社区生活圈" not in page
    assert [circle_minutes(w) for w in (300, 500, 800, 1000, 1500)] == [5, 10, 15, 15, 15]
    assert circle_subtitle([300, 500], "zh") == "完整社区 · 5/10 分钟社区生活圈"
    assert circle_subtitle([1000, 300, 300], "en").endswith("5/15-minute life circles")


def test_the_chinese_workbook_names_its_columns_over_the_contract_keys(
    town_zh: tuple[PlanRun, Path],
) -> None:
    _, out = town_zh
    wb = load_workbook(out / "plan.xlsx")
    for sheet, csv in (("construction_list", "construction_list"), ("coverage", "coverage")):
        headers = [str(c.value) for c in wb[sheet][1]]
        keys = list(pd.read_csv(out / f"{csv}.csv", encoding="utf-8-sig", nrows=0).columns)
        assert [column_key(h) for h in headers] == keys
        assert all(re.search(r"[\u4e00-\u9fff]", h) for h in headers), headers
    ws = wb["construction_list"]
    column = next(c.column_letter for c in ws[1] if column_key(str(c.value)) == "reason")
    reasons = [str(c.value) for c in ws[column][1:]]
    assert reasons and all(re.search(r"[\u4e00-\u9fff]", r) for r in reasons)
    assert not any(english_sentences(r) for r in reasons), reasons
    assumptions = " ".join(
        str(c.value) for row in wb["assumptions"].iter_rows() for c in row if c.value is not None
    )
    assert "每 100 户" in assumptions and "已核实" in assumptions


class _Anything(dict[str, object]):
    """Fills any template field with 1 (a number every format spec accepts)."""

    def __missing__(self, key: str) -> object:
        return 1


def test_every_message_has_a_chinese_text_without_english_sentences() -> None:
    for code, (zh, en) in TEXTS.items():
        text = string.Formatter().vformat(zh, (), _Anything())
        assert re.search(r"[\u4e00-\u9fff]", text), code
        assert not english_sentences(text), (code, text)
        assert string.Formatter().vformat(en, (), _Anything()), code


def test_messages_travel_as_english_text_and_come_back_in_either_language() -> None:
    parts = [
        message("reason_sole_many", limit=300.0, blocks=3),
        message("reason_serves", capacity=350.0, newly=980.0, group="pop_60_plus", unit="m2"),
        message("reason_shares_site", types=["nursery", "convenience"]),
    ]
    book = phrasebook([parts])
    (english,) = book
    assert english == (
        "only candidate site within 300 m of 3 blocks that no existing facility reaches; "
        "capacity 350 serves 980 more residents aged 60+; shares the site and its opening "
        "cost with nursery, convenience"
    )
    names = {"nursery": "托育", "convenience": "便利店", "m2": "m²"}
    zh = translate(english, "zh", book, names)
    assert zh.startswith("300 米内唯一可服务 3 个") and "托育、便利店" in zh and "m²" in zh
    assert translate(english, "en", book, names) == english
    # a text the run did not record stays as it is
    assert translate("a note from elsewhere", "zh", book) == "a note from elsewhere"
    assert Message.from_dict(parts[1].as_dict()) == parts[1]
    assert render(parts[1], "zh") == "规模 350 m2，新增服务60 岁及以上老人 980 人"
    with pytest.raises(KeyError):
        message("no_such_code")


def test_the_install_ships_a_cjk_font_the_maps_use_first(monkeypatch: pytest.MonkeyPatch) -> None:
    path = fonts.packaged_font_file()
    assert path is not None and path.is_file()
    face = FT2Font(str(path))
    assert all(face.get_char_index(ord(ch)) for ch in "老年服务站社区生活圈图例")
    monkeypatch.delenv("SITING_CJK_FONT", raising=False)
    fonts.cjk_font.cache_clear()
    try:
        assert fonts.cjk_font() == fonts.add_font_file(path) == "Noto Sans SC"
    finally:
        fonts.cjk_font.cache_clear()


def test_bold_labels_in_the_packaged_font_log_no_weight_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the packaged font has one weight; bold titles fall back to it without a warning per label
    family = fonts.cjk_font()
    assert family is not None
    with caplog.at_level("DEBUG", logger="matplotlib.font_manager"):
        font_manager.findfont(font_manager.FontProperties(family=family, weight="bold"))
    assert not [r for r in caplog.records if "Failed to find font weight" in r.getMessage()]
