from __future__ import annotations

import pytest

from report.normalize import normalize_text
from report.sections import find_sections
from tests.report.conftest import EXCERPTS, SAMPLES

BODY = (
    "某局2024年政府信息公开工作年度报告\n"
    "{h1}\n今年我局公开信息10条。\n(一)主动公开政府信息情况\n发布信息10条。\n"
    "{h2}\n表格\n{h3}\n表格\n{h4}\n表格\n{h5}\n问题在于宣传不够。\n{h6}\n无其他事项。\n"
)
CANON = {
    "h1": "一、总体情况",
    "h2": "二、主动公开政府信息情况",
    "h3": "三、收到和处理政府信息公开申请情况",
    "h4": "四、政府信息公开行政复议、行政诉讼情况",
    "h5": "五、存在的主要问题及改进情况",
    "h6": "六、其他需要报告的事项",
}


def _numbers(text: str) -> list[int]:
    return sorted(find_sections(text).headings)


def test_canonical_headings_and_texts() -> None:
    s = find_sections(BODY.format(**CANON))
    assert sorted(s.headings) == [1, 2, 3, 4, 5, 6]
    assert s.canonical() == {
        "overview": "今年我局公开信息10条。\n(一)主动公开政府信息情况\n发布信息10条。",
        "problems_and_improvements": "问题在于宣传不够。",
        "other_matters": "无其他事项。",
    }


def test_subheading_inside_section_one_is_not_section_two() -> None:
    s = find_sections(BODY.format(**CANON))
    assert s.text[s.headings[2].start :].startswith("二、主动公开政府信息情况")


@pytest.mark.parametrize(
    "variant",
    [
        {
            k: v.replace("、", "、 ").replace(v[0], str("一二三四五六".index(v[0]) + 1))
            for k, v in CANON.items()
        },
        {**CANON, "h4": "四、政府信息公开行政法复议、行政诉讼情况"},
        {k: "## " + v for k, v in CANON.items()},
        {k: "**" + v + "**" for k, v in CANON.items()},
        {k: f"第{v[0]}部分 {v[2:]}" for k, v in CANON.items()},
    ],
    ids=["arabic", "typo", "markdown", "bold", "part"],
)
def test_tolerant_heading_variants(variant: dict[str, str]) -> None:
    s = find_sections(BODY.format(**variant))
    assert sorted(s.headings) == [1, 2, 3, 4, 5, 6]
    assert s.plain(5) == "问题在于宣传不够。"


def test_missing_section_is_absent_not_misplaced() -> None:
    s = find_sections(BODY.format(**{**CANON, "h4": ""}))
    assert sorted(s.headings) == [1, 2, 3, 5, 6]
    assert s.plain(5) == "问题在于宣传不够。"


def test_headings_glued_to_body_text() -> None:
    text = "".join(BODY.format(**CANON).split("\n")).replace("表格", "规章000")
    s = find_sections(text)
    assert sorted(s.headings) == [1, 2, 3, 4, 5, 6]
    assert s.canonical()["other_matters"] == "无其他事项。"


def test_table_row_labels_are_not_headings() -> None:
    text = BODY.format(**CANON).replace(
        "{h3}", "三、本年度办理结果\n四、结转下年度继续办理"
    )  # the body has no such placeholder: add the rows inside section 三
    text = text.replace("表格\n四、政府", "三、本年度办理结果\n四、结转下年度继续办理\n四、政府", 1)
    s = find_sections(text)
    assert s.text[s.headings[4].start :].startswith("四、政府信息公开行政复议")


def test_signature_after_the_last_section_is_dropped() -> None:
    text = BODY.format(**CANON) + "\n长沙市天心区桂花坪街道办事处\n2021年1月20日\n"
    assert find_sections(text).canonical()["other_matters"] == "无其他事项。"


def test_seed_000_has_all_six_and_its_own_subheading_stays_in_section_one() -> None:
    s = find_sections(normalize_text((SAMPLES / "000_6cd8fdb8270bcb50.txt").read_text("utf-8")).text)
    assert sorted(s.headings) == [1, 2, 3, 4, 5, 6]
    overview = s.plain(1) or ""
    assert "(一)主动公开政府信息情况" in overview
    assert "第二十条" not in overview


def test_zhengyang_arabic_numbered_heading() -> None:
    raw = (EXCERPTS / "zhengyang_2023_misnumbered_headings_excerpt.txt").read_text("utf-8")
    s = find_sections(normalize_text(raw).text)
    assert list(s.headings) == [1]
    assert (s.plain(1) or "").startswith("2023年度,正阳街道")


def test_flattened_layout_finds_all_six() -> None:
    raw = (SAMPLES / "synthetic_huaian_2024_flattened.txt").read_text("utf-8")
    assert _numbers(normalize_text(raw).text) == [1, 2, 3, 4, 5, 6]
