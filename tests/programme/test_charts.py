"""The page's SVG charts, drawn from plain figures: well-formed, named and described for
screen readers, withheld figures marked, no inline style."""

from datetime import date
from xml.etree import ElementTree

from programme import charts

SVG = "{http://www.w3.org/2000/svg}"


def month_rows(values: list[dict]) -> list[dict]:
    base = {
        "draws_on_time_pct": None, "draws_on_time_pct_n": 0, "turnaround_days_median": None,
        "turnaround_days_median_n": 0, "turnaround_days_p90": None, "esr1_detected": 0,
        "detected_before_progression": 0,
    }  # fmt: skip
    return [{**base, "month": f"2027-{i + 1:02d}", **row} for i, row in enumerate(values)]


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def test_a_withheld_month_is_a_hollow_mark_not_a_bar():
    rows = month_rows([
        {"draws_on_time_pct": 80.0, "draws_on_time_pct_n": 10},
        {"draws_on_time_pct": None, "draws_on_time_pct_n": 3},
        {"draws_on_time_pct": 50.0, "draws_on_time_pct_n": 6},
    ])  # fmt: skip
    root = parse(charts.on_time_chart(rows))
    bars = [r for r in root.iter(f"{SVG}rect") if "pm-bar-ontime" in r.get("class").split()]
    bars = [r for r in bars if "pm-key" not in r.get("class")]
    assert len(bars) == 2
    # 80% of a 174-unit plot is 139.2 high, 50% is 87.
    assert [float(r.get("height")) for r in bars] == [139.2, 87.0]
    marks = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "pm-nodata"]
    assert len(marks) == 2  # the withheld month and the legend's sample
    desc = root.find(f"{SVG}desc").text
    assert desc == (
        "January 2027: 80% of 10 on time; February 2027: 3 draws with a known outcome, too "
        "few; March 2027: 50% of 6 on time."
    )


def test_stacked_detections_sit_on_each_other():
    rows = month_rows([
        {"esr1_detected": 3, "detected_before_progression": 2},
        {"esr1_detected": 1, "detected_before_progression": 0},
    ])  # fmt: skip
    root = parse(charts.detections_chart(rows))
    bars = [
        r for r in root.iter(f"{SVG}rect")
        if r.get("class", "").startswith("pm-bar ")
    ]  # fmt: skip
    before, at, before2, at2 = bars
    # Top of the axis is 4 (a round number over 3): 2 detections are half the 174 units.
    assert float(before.get("height")) == 87.0
    assert float(at.get("y")) + float(at.get("height")) == float(before.get("y"))
    assert float(before2.get("height")) == 0.0 and float(at2.get("height")) == 43.5


def test_every_chart_is_a_named_image_without_inline_style():
    rows = month_rows([{"turnaround_days_median": 7.5, "turnaround_days_p90": 21.0,
                        "turnaround_days_median_n": 8}] * 12)  # fmt: skip
    funnel = {"monitored": 10, "tested": 8, "esr1_detected": 2, "switched": 1}
    for svg in (
        charts.on_time_chart(rows), charts.turnaround_chart(rows),
        charts.detections_chart(rows), charts.funnel_chart(funnel),
    ):  # fmt: skip
        root = parse(svg)
        assert root.get("role") == "img"
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert title.text and desc.text
        assert root.get("aria-labelledby") == title.get("id")
        assert root.get("aria-describedby") == desc.get("id")
        assert all(el.get("style") is None for el in root.iter())
        assert root.find(f"{SVG}script") is None and root.find(f"{SVG}style") is None


def test_many_months_are_labelled_every_few_months():
    rows = month_rows([{}] * 12) + [
        {**month_rows([{}])[0], "month": f"2028-{i:02d}"} for i in range(1, 13)
    ]
    root = parse(charts.on_time_chart(rows))
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "pm-month"]
    assert len(labels) == 12  # 24 months, every second labelled


def test_the_y_axis_ends_on_a_round_number_of_four_steps():
    assert charts._axis_top([7.5, 21.0], floor=10) == 40
    assert charts._axis_top([7.5], floor=10) == 10
    assert charts._axis_top([3], floor=4, whole=True) == 4
    assert charts._axis_top([7], floor=4, whole=True) == 8
    assert charts._axis_top([9], floor=4, whole=True) == 20  # steps of 5, not 2.5
    assert charts._axis_top([0.0], floor=10) == 10
    assert charts._axis_top([101], floor=10) == 200


def test_month_names_are_spelled_out():
    assert charts.month_name(date(2028, 2, 1)) == "February 2028"
