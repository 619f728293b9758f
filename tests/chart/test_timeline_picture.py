"""The timeline picture is pure: build plain data, render, parse the SVG, check geometry.

One test at the end renders the patient page, to check that the picture and the draw
table give each draw the same number."""

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chart.timeline_picture import (
    AssessmentMark,
    DrawMark,
    TimelineData,
    TreatmentBar,
    VariantPoint,
    render_timeline_svg,
)
from tests import factories

TODAY = date(2026, 5, 12)
CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "timeline.css"


# ---- helpers ---------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well-formed
    for el in root.iter():  # drop the SVG namespace so tests read like the markup
        el.tag = el.tag.split("}")[-1]
    return root


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def find_all(root: ET.Element, cls: str) -> list[ET.Element]:
    return [el for el in root.iter() if cls in classes(el)]


def find_one(root: ET.Element, cls: str) -> ET.Element:
    found = find_all(root, cls)
    assert len(found) == 1, f"{cls}: {len(found)} elements"
    return found[0]


def xy(el: ET.Element) -> tuple[float, float]:
    match = re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", el.get("transform", ""))
    assert match, el.attrib
    return float(match[1]), float(match[2])


def draw_markers(root) -> dict[int, ET.Element]:
    return {
        int(el.get("data-number")): el for el in find_all(root, "tl-draw") if el.get("data-number")
    }


def baseline_y(root) -> float:
    return float(find_one(root, "tl-baseline").get("y1"))


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def draw(number, on, status="resulted", esr1="not_detected", variants=()):
    return DrawMark(
        number, 100 + number, on, status, esr1, tuple(VariantPoint(*v) for v in variants)
    )


def numbered(*draws):
    """Draw specs (on, status, esr1, variants) numbered 1..n in date order, as the page does."""
    ordered = sorted(draws, key=lambda d: d[0])
    return tuple(draw(i, *spec) for i, spec in enumerate(ordered, start=1))


SURVEILLANCE = TreatmentBar(
    1, date(2025, 1, 10), date(2026, 3, 20), "Letrozole + Palbociclib", 1, "metastatic",
    "esr1_switch", True,
)  # fmt: skip
SWITCHED = TreatmentBar(2, date(2026, 3, 20), None, "Camizestrant + Palbociclib", 1, "metastatic")


def clinic_case(**changes) -> TimelineData:
    """A first-line patient: clear results, a failed draw, D538G emerging at 0.3%, a switch."""
    data = TimelineData(
        today=TODAY,
        treatments=(SURVEILLANCE, SWITCHED),
        assessments=(
            AssessmentMark(1, date(2025, 4, 10), "ct", "SD"),
            AssessmentMark(2, date(2025, 10, 10), "ct", "SD"),
            AssessmentMark(3, date(2026, 4, 20), "pet_ct", "PD"),
        ),
        draws=numbered(
            (date(2025, 3, 7), "resulted", "not_detected", ()),  # 1
            (date(2025, 5, 2), "resulted", "not_detected", ()),  # 2
            (date(2025, 7, 1), "resulted", "failed", ()),  # 3
            (date(2025, 7, 15), "resulted", "not_detected", ()),  # 4
            (date(2025, 9, 9), "resulted", "detected", [("D538G", 0.3)]),  # 5
            (date(2025, 11, 4), "resulted", "failed", ()),  # 6
            (date(2026, 3, 2), "resulted", "detected", [("D538G", 1.0), ("Y537S", 0.4)]),  # 7
            (date(2026, 4, 28), "collected", None, ()),  # 8
            (date(2026, 6, 23), "planned", None, ()),  # 9
        ),
        next_due=date(2026, 6, 23),
    )
    return TimelineData(**{**data.__dict__, **changes})


# ---- the element as a whole -------------------------------------------------------------


def test_well_formed_accessible_and_scalable():
    root = parse(render_timeline_svg(clinic_case(), width=1000))
    assert root.tag == "svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") == f"0 0 1000 {root.get('viewBox').split()[3]}"
    assert root.get("width") is None and root.get("height") is None  # CSS sizes it
    ids = root.get("aria-labelledby").split()
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    assert [by_id[i].tag for i in ids] == ["title", "desc"]
    assert by_id[ids[0]].text == "Treatment and ctDNA timeline"


def test_id_prefix_keeps_ids_unique_on_a_page():
    root = parse(render_timeline_svg(clinic_case(), id_prefix="p7"))
    assert root.get("aria-labelledby") == "p7-title p7-desc"


SCENARIOS = {
    "clinic": clinic_case(),
    "empty": TimelineData(today=TODAY, treatments=(), assessments=(), draws=()),
    "planned only": TimelineData(
        today=TODAY,
        treatments=(),
        assessments=(),
        draws=(draw(1, date(2026, 6, 1), "planned", None),),
        next_due=date(2026, 6, 1),
    ),  # fmt: skip
    "hostile": clinic_case(
        title='Jane "<b>" & <script>',
        treatments=(
            TreatmentBar(
                9,
                date(2025, 1, 1),
                None,
                '<script>alert("x")</script> & \x00\x07 <a href="http://evil">',
                1,
                "metastatic",
            ),
        ),  # fmt: skip
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_inline_styles_scripts_or_external_references(name):
    svg = render_timeline_svg(SCENARIOS[name])
    root = parse(svg)
    assert "style=" not in svg
    assert not [el for el in root.iter() if el.tag in ("script", "style", "a", "image", "use")]
    assert not [el for el in root.iter() for key in el.attrib if "href" in key or key[:2] == "on"]
    # The namespace declaration is the only "http" allowed: it is a name, not a fetch.
    assert svg.count("http") == 1 + svg.count("http://evil") and 'xmlns="http' in svg
    assert "http://evil" not in {v for el in root.iter() for v in el.attrib.values()}


def test_labels_are_escaped():
    svg = render_timeline_svg(SCENARIOS["hostile"])
    root = parse(svg)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert root.find("title").text == 'Jane "<b>" & <script>'
    label = find_one(root, "tl-bar-label")
    assert "<script>" in text_of(label)  # shown as text, not markup
    assert "\x00" not in svg and "\x07" not in svg


# ---- draws: numbered markers ------------------------------------------------------------


def test_draw_markers_carry_the_table_numbers_and_status_classes():
    root = parse(render_timeline_svg(clinic_case()))
    markers = draw_markers(root)
    assert sorted(markers) == list(range(1, 10))
    expected = {
        1: "tl-draw-not-detected",
        3: "tl-draw-failed",
        5: "tl-draw-detected",
        8: "tl-draw-pending",
        9: "tl-draw-planned",
    }
    for number, cls in expected.items():
        assert cls in classes(markers[number])
    for number, el in markers.items():
        assert text_of(el.find("text")) == str(number)
        assert el.find("title") is not None  # hover says what the marker means


def test_planned_draw_says_due_and_next_due_is_marked():
    root = parse(render_timeline_svg(clinic_case()))
    due = [text_of(el) for el in find_all(root, "tl-due-label")]
    assert due == ["next draw due 23 Jun 2026"]

    elsewhere = clinic_case(next_due=date(2026, 7, 7))
    root = parse(render_timeline_svg(elsewhere))
    assert sorted(text_of(el) for el in find_all(root, "tl-due-label")) == [
        "due",
        "next draw due 7 Jul 2026",
    ]
    tick = find_one(root, "tl-next-due")
    assert float(tick.get("x1")) > xy(draw_markers(root)[9])[0]


def test_x_is_monotonic_in_date_and_shared_by_every_row():
    many = TimelineData(
        today=TODAY,
        treatments=(TreatmentBar(1, date(2021, 6, 1), None, "Letrozole", 1, "metastatic"),),
        assessments=(AssessmentMark(1, date(2023, 6, 1), "ct", "SD"),),
        draws=tuple(draw(i + 1, date(2021, 6, 1) + timedelta(days=28 * i)) for i in range(64)),
    )
    root = parse(render_timeline_svg(many))
    markers = draw_markers(root)
    xs = [xy(markers[n])[0] for n in range(1, 65)]
    assert xs == sorted(xs) and len(set(xs)) == 64
    # The bar, the first draw (same day) and the scan (date 2023-06-01) share the axis.
    (bar,) = [el for el in find_all(root, "tl-bar") if el.tag == "rect"]
    assert float(bar.get("x")) == pytest.approx(xs[0], abs=1)
    scan_x = xy(find_one(root, "tl-assess"))[0]
    days = (date(2023, 6, 1) - date(2021, 6, 1)).days
    expected = xs[0] + (xs[-1] - xs[0]) * days / (28 * 63)
    assert scan_x == pytest.approx(expected, abs=0.2)


def test_many_and_same_day_draws_never_overlap():
    same_day = [draw(i, date(2026, 1, 5)) for i in (1, 2, 3)]
    dense = [draw(i + 4, date(2026, 1, 10) + timedelta(days=3 * i)) for i in range(60)]
    root = parse(render_timeline_svg(TimelineData(TODAY, (), (), (*same_day, *dense))))
    markers = draw_markers(root)
    assert sorted(markers) == list(range(1, 64))
    points = [xy(el) for el in markers.values()]
    radius = max(float(el.find("circle").get("r")) for el in markers.values())
    for i, (ax, ay) in enumerate(points):
        for bx, by in points[i + 1 :]:
            assert (ax - bx) ** 2 + (ay - by) ** 2 >= (2 * radius) ** 2 - 0.1


def test_one_draw():
    root = parse(render_timeline_svg(TimelineData(TODAY, (), (), (draw(1, date(2026, 4, 1)),))))
    assert list(draw_markers(root)) == [1]
    assert len(find_all(root, "tl-base-not-detected")) == 1
    assert not find_all(root, "tl-variant")


def test_only_planned_draws():
    root = parse(render_timeline_svg(SCENARIOS["planned only"]))
    assert "tl-draw-planned" in classes(draw_markers(root)[1])
    assert "No ctDNA results yet" in [text_of(el) for el in find_all(root, "tl-note")]
    assert not find_all(root, "tl-point") and not find_all(root, "tl-base")


# ---- VAF chart ----------------------------------------------------------------------------


def variant_group(root, variant: str) -> ET.Element:
    (group,) = [el for el in find_all(root, "tl-variant") if el.get("data-variant") == variant]
    return group


def points_of(root, variant: str) -> dict[int, tuple[float, float]]:
    return {
        int(el.get("data-number")): xy(el)
        for el in find_all(variant_group(root, variant), "tl-point")
    }


def polylines(group: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in el.get("points").split()]
        for el in find_all(group, "tl-vline")
    ]


def test_each_variant_is_one_line_through_its_own_results():
    data = clinic_case(
        draws=numbered(
            (date(2025, 3, 1), "resulted", "not_detected", ()),  # 1
            (date(2025, 5, 1), "resulted", "detected", [("D538G", 0.2)]),  # 2
            (date(2025, 7, 1), "resulted", "detected", [("D538G", 0.8), ("Y537S", 0.3)]),  # 3
            (date(2025, 9, 1), "resulted", "detected", [("D538G", 2.5), ("Y537S", 1.1)]),  # 4
        )
    )
    root = parse(render_timeline_svg(data))
    base = baseline_y(root)
    x = {n: xy(el)[0] for n, el in draw_markers(root).items()}
    expected = {"D538G": {2: "0.2", 3: "0.8", 4: "2.5"}, "Y537S": {3: "0.3", 4: "1.1"}}
    for variant, vafs in expected.items():
        group = variant_group(root, variant)
        points = sorted(find_all(group, "tl-point"), key=lambda el: int(el.get("data-number")))
        # A marked point per result that found the variant, right below its draw marker,
        # with the variant, VAF and draw number on hover.
        assert {int(el.get("data-number")): el.get("data-vaf") for el in points} == vafs
        for el in points:
            number = int(el.get("data-number"))
            assert xy(el)[0] == x[number]
            assert text_of(el.find("title")).startswith(
                f"ESR1 {variant} {vafs[number]}%, draw {number},"
            )
        # One line: up from the baseline at the last result without the variant, then
        # through every point in date order, higher on the page as the VAF grows.
        (line,) = polylines(group)
        assert line[0] == (x[min(vafs) - 1], base)
        assert line[1:] == [xy(el) for el in points]
        ys = [y for _x, y in line]
        assert ys == sorted(ys, reverse=True)


def test_low_vaf_is_visible_above_the_not_detected_baseline():
    root = parse(render_timeline_svg(clinic_case()))
    d538g = points_of(root, "D538G")
    y_03, y_1 = d538g[5][1], d538g[7][1]
    base = baseline_y(root)
    assert y_1 < y_03 < base - 20  # SVG y grows downwards
    # Log scale: 0.3% sits about half a decade below 1%, not squashed onto zero.
    tick_ys = {
        text_of(el): float(el.get("y"))
        for el in find_all(root, "tl-tick-label")
        if "%" in text_of(el)
    }
    decade = tick_ys["0.1%"] - tick_ys["1%"]
    assert (y_03 - y_1) / decade == pytest.approx(0.523, abs=0.02)


def test_not_detected_sits_on_the_baseline_and_failed_is_hollow():
    root = parse(render_timeline_svg(clinic_case()))
    base = baseline_y(root)
    not_detected = {
        int(el.get("data-number")): xy(el) for el in find_all(root, "tl-base-not-detected")
    }
    assert sorted(not_detected) == [1, 2, 4]
    assert {y for _x, y in not_detected.values()} == {base}
    # Zero has its own row under the log area, below every detected value.
    area = find_one(root, "tl-vaf-area")
    assert base > float(area.get("y")) + float(area.get("height"))
    assert {int(el.get("data-number")) for el in find_all(root, "tl-point")} == {5, 7}
    failed = {int(el.get("data-number")): xy(el) for el in find_all(root, "tl-base-failed")}
    assert sorted(failed) == [3, 6] and {y for _x, y in failed.values()} == {base}
    # Shape as well as fill: a square for failed, a dot for not detected.
    assert all(el.find("rect") is not None for el in find_all(root, "tl-base-failed"))
    assert all(el.find("circle") is not None for el in find_all(root, "tl-base-not-detected"))
    # Hollow: the stylesheet fills failed marks with white and outlines them.
    css = CSS.read_text()
    for rule in (".tl-draw-failed .tl-draw-mark", ".tl-base-failed .tl-base-mark"):
        body = re.search(re.escape(rule) + r"\s*\{([^}]*)\}", css)[1]
        assert "fill: #fff" in body and "stroke:" in body


def test_lines_rise_from_the_baseline_and_break_at_failed_or_missing_results():
    root = parse(render_timeline_svg(clinic_case()))
    base = baseline_y(root)
    x = {n: xy(el)[0] for n, el in draw_markers(root).items()}
    lines = polylines(variant_group(root, "D538G"))
    # Draw 4 (not detected) -> draw 5 (0.3%): emergence from the baseline. Draw 6 failed,
    # so draw 5 and draw 7 are not joined, and nothing reaches the pending draw 8.
    assert len(lines) == 1
    (start, end) = lines[0]
    assert start == (x[4], base) and end[0] == x[5] and end[1] < base
    assert all(px not in (x[6], x[7], x[8]) for line in lines for px, _ in line)


def test_a_variant_that_clears_drops_to_the_baseline():
    data = clinic_case(
        draws=numbered(
            (date(2025, 3, 1), "resulted", "detected", [("Y537S", 0.5)]),
            (date(2025, 5, 1), "resulted", "not_detected", ()),
            (date(2025, 7, 1), "resulted", "not_detected", ()),
        )
    )
    root = parse(render_timeline_svg(data))
    (line,) = find_all(root, "tl-vline")[:1]
    pts = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(pts) == 2 and pts[1][1] == baseline_y(root)  # one drop, no run along zero


def test_one_style_per_variant_and_a_legend_naming_them():
    root = parse(render_timeline_svg(clinic_case()))
    groups = [el for el in find_all(root, "tl-variant") if el.get("data-variant")]
    assert [g.get("data-variant") for g in groups] == ["D538G", "Y537S"]
    assert {c for g in groups for c in classes(g) if c.startswith("tl-var-")} == {
        "tl-var-0",
        "tl-var-1",
    }
    legend = " ".join(text_of(el) for el in find_all(root, "tl-legend-label"))
    for words in ("ESR1 D538G", "ESR1 Y537S", "ESR1 not detected", "result failed", "planned"):
        assert words in legend


def test_tiny_and_huge_vafs_are_clamped_inside_the_chart():
    data = clinic_case(
        draws=numbered(
            (date(2025, 3, 1), "resulted", "detected", [("E380Q", 0.001)]),
            (date(2025, 5, 1), "resulted", "detected", [("E380Q", 250.0)]),
        )
    )
    root = parse(render_timeline_svg(data))
    area = find_one(root, "tl-vaf-area")
    top, bottom = float(area.get("y")), float(area.get("y")) + float(area.get("height"))
    ys = [y for _x, y in points_of(root, "E380Q").values()]
    assert all(top <= y <= bottom for y in ys)
    assert ys[0] < baseline_y(root) - 10


# ---- treatments, scans, today ---------------------------------------------------------------


def test_today_line_is_at_todays_x():
    root = parse(render_timeline_svg(clinic_case()))
    x = {n: xy(el)[0] for n, el in draw_markers(root).items()}
    d7, d8 = date(2026, 3, 2), date(2026, 4, 28)
    expected = x[7] + (x[8] - x[7]) * (TODAY - d7).days / (d8 - d7).days
    line = find_one(root, "tl-today")
    assert float(line.get("x1")) == pytest.approx(expected, abs=0.2)
    assert float(line.get("x1")) == float(line.get("x2"))
    assert float(line.get("y2")) >= baseline_y(root)  # runs through the whole picture


def test_progression_is_a_prominent_labelled_mark():
    root = parse(render_timeline_svg(clinic_case()))
    pd = find_one(root, "tl-pd")
    assert text_of(pd.find("text")) == "PD"
    assert "PD" in text_of(pd.find("title"))
    rule = find_one(root, "tl-pd-rule")
    assert float(rule.get("x1")) == pytest.approx(xy(pd)[0], abs=0.1)
    assert len(find_all(root, "tl-assess")) == 3


def test_treatment_bars_show_line_surveillance_switch_and_ongoing_end():
    root = parse(render_timeline_svg(clinic_case()))
    first, second = find_all(root, "tl-treatment")
    assert {"tl-surveillance", "tl-end-esr1_switch"} <= classes(first)
    assert text_of(find_one(first, "tl-bar-label")) == (
        "Line 1 · Letrozole + Palbociclib · surveillance · ended: ESR1 switch"
    )
    assert find_all(first, "tl-switch-mark")
    assert "tl-ongoing" in classes(second) and "tl-surveillance" not in classes(second)
    arrow = find_one(second, "tl-arrow")
    today_x = float(find_one(root, "tl-today").get("x1"))
    assert float(arrow.get("points").split()[0].split(",")[0]) == pytest.approx(today_x, abs=0.2)


def test_long_labels_are_cut_with_an_ellipsis_and_kept_whole_on_hover():
    long = "Letrozole + Palbociclib " + "with an extraordinarily long annotation " * 6
    bar = TreatmentBar(1, date(2026, 2, 1), date(2026, 3, 1), long, 1, "metastatic", "toxicity")
    root = parse(render_timeline_svg(clinic_case(treatments=(bar,))))
    label = find_one(root, "tl-bar-label")
    shown = "".join(label.itertext()).replace(text_of(label.find("title")), "")
    assert "…" in shown and shown.startswith("Line 1 · Letrozole")
    assert shown.endswith("· ended: toxicity")  # the end reason survives the cut
    assert label.find("title").text == f"Line 1 · {long} · ended: toxicity"


# ---- date axis --------------------------------------------------------------------------------


@pytest.mark.parametrize("span_days", [60, 180, 400, 730, 1100, 1826])
def test_date_ticks_are_readable_for_two_months_to_five_years(span_days):
    first = TODAY - timedelta(days=span_days)
    data = TimelineData(TODAY, (), (), (draw(1, first), draw(2, TODAY)))
    root = parse(render_timeline_svg(data))
    labels = find_all(root, "tl-date-label")
    assert 2 <= len(labels) <= 16
    dates = [date.fromisoformat(el.get("data-date")) for el in labels]
    xs = [float(el.get("x")) for el in labels]
    assert dates == sorted(dates) and xs == sorted(xs)
    widest = max(len(text_of(el)) for el in labels) * 11 * 0.6
    assert min(b - a for a, b in zip(xs, xs[1:], strict=False)) > widest


# ---- words --------------------------------------------------------------------------------------


def test_desc_summarises_the_story_in_words():
    desc = parse(render_timeline_svg(clinic_case())).find("desc").text
    assert desc.startswith("2 treatments, 9 draws")
    assert "ESR1 D538G first detected 2025-09-09 at 0.3%" in desc
    assert "ESR1 Y537S first detected 2026-03-02 at 0.4%" in desc
    assert "2 failed" in desc
    assert "progression (PD) on 2026-04-20" in desc
    assert "Next draw due 2026-06-23" in desc


def test_desc_without_detection():
    data = TimelineData(TODAY, (), (), (draw(1, date(2026, 1, 5)), draw(2, date(2026, 3, 5))))
    desc = parse(render_timeline_svg(data)).find("desc").text
    assert "ESR1 not detected in 2 results" in desc and "first detected" not in desc


def test_no_events_renders_an_empty_picture_with_a_message():
    root = parse(render_timeline_svg(SCENARIOS["empty"]))
    assert text_of(find_one(root, "tl-empty")) == "No treatments or draws recorded yet"
    assert root.find("desc").text == "No treatments or draws recorded yet."
    assert not find_all(root, "tl-draw")


# ---- on the patient page ----------------------------------------------------------------------

DRAWS_TABLE_ROW = re.compile(
    r'<tr[^>]*>\s*<td><span class="draw-number">(\d+)</span></td>\s*<td>([^<]*).*?</td>'
    r"\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>(.*?)</tr>",
    re.S,
)
TABLE_KIND = {  # status column or ESR1 class in the table -> marker kind in the picture
    "esr1-detected": "detected",
    "esr1-not_detected": "not-detected",
    "esr1-failed": "failed",
    "Collected": "pending",
    "Planned": "planned",
}


def table_draws(html: str) -> dict[int, tuple[date, str, str]]:
    """Number -> (date, kind, rest of the row) as the page's draw table shows them."""
    table = html[html.index('id="draws-h"') :]
    table = table[: table.index("</table>")]
    rows = {}
    for number, status, due, collected, rest in DRAWS_TABLE_ROW.findall(table):
        on = date.fromisoformat(collected if collected != "—" else due)
        esr1 = re.search(r"esr1-\w+", rest)
        rows[int(number)] = (on, TABLE_KIND[esr1[0] if esr1 else status.strip()], rest)
    return rows


@pytest.mark.django_db
def test_the_page_gives_each_draw_the_same_number_in_picture_and_table(client, oncologist):
    days = factories.days
    patient = factories.PatientFactory(oncologist=oncologist)
    factories.TreatmentFactory(patient=patient, start_date=days(-400))
    # Entered out of date order: only the date decides the number.
    positive = factories.DrawFactory(patient=patient, status="resulted", collected_on=days(-30))
    factories.VariantFactory(
        result=factories.ResultFactory(
            draw=positive, reported_on=days(-20), esr1_status="detected"
        ),
        vaf_percent=Decimal("1.2"),
    )
    failed = factories.DrawFactory(patient=patient, status="resulted", collected_on=days(-200))
    factories.ResultFactory(
        draw=failed, reported_on=days(-190), status="failed", esr1_status="failed"
    )
    clear = factories.DrawFactory(patient=patient, status="resulted", collected_on=days(-300))
    factories.ResultFactory(draw=clear, reported_on=days(-290))
    factories.DrawFactory(
        patient=patient, status="planned", collected_on=None, due_date=days(40), assay=""
    )
    factories.DrawFactory(
        patient=patient, status="cancelled", collected_on=None, due_date=days(-100)
    )
    factories.DrawFactory(patient=patient, status="collected", collected_on=days(-5))
    client.force_login(oncologist)
    html = client.get(f"/patients/{patient.id}/").content.decode()

    table = table_draws(html)
    root = parse(html[html.index("<svg") : html.index("</svg>") + len("</svg>")])
    markers = draw_markers(root)
    assert sorted(table) == sorted(markers) == [1, 2, 3, 4, 5]  # the cancelled draw in neither
    for number, (on, kind, _rest) in table.items():
        marker = markers[number]
        assert f"tl-draw-{kind}" in classes(marker)
        assert f"{on.day} {on:%b %Y}" in text_of(marker.find("title"))
        assert text_of(marker.find("text")) == str(number)
    # The VAF point carries the number of the table row that reports it.
    (point,) = find_all(root, "tl-point")
    on, kind, rest = table[int(point.get("data-number"))]
    assert kind == "detected" and on == days(-30)
    assert f"D538G ({point.get('data-vaf')}%)" in rest


# ---- any data at all -------------------------------------------------------------------------

days = st.integers(min_value=-2000, max_value=200).map(lambda n: TODAY + timedelta(days=n))
texts = st.text(max_size=80)
variant_points = st.builds(
    VariantPoint,
    short=st.sampled_from(["D538G", "Y537S", "E380Q", "L536H", "Y537N", "S463P", "V422del"]),
    vaf_percent=st.floats(min_value=-1, max_value=150) | st.just(float("nan")),
)
draw_marks = st.builds(
    DrawMark,
    number=st.integers(min_value=1, max_value=150),
    id=st.integers(min_value=1),
    on=days,
    status=st.sampled_from(["planned", "collected", "resulted", "cancelled"]),
    esr1_status=st.sampled_from(["detected", "not_detected", "failed", None]),
    variants=st.lists(variant_points, max_size=4).map(tuple),
)
bars = st.builds(
    TreatmentBar,
    id=st.integers(min_value=1),
    start=days,
    end=st.none() | days,
    label=texts,
    line_number=st.integers(min_value=0, max_value=5),
    setting=st.sampled_from(["metastatic", "adjuvant"]),
    end_reason=st.sampled_from(["", "progression", "esr1_switch", "toxicity", "odd <reason>"]),
    is_surveillance=st.booleans(),
)
marks = st.builds(
    AssessmentMark,
    id=st.integers(min_value=1),
    on=days,
    modality=st.sampled_from(["ct", "pet_ct", "bone_scan", "mri", "other", "?"]),
    response=st.sampled_from(["CR", "PR", "SD", "PD", "NE"]),
)
timelines = st.builds(
    TimelineData,
    today=st.just(TODAY),
    treatments=st.lists(bars, max_size=5).map(tuple),
    assessments=st.lists(marks, max_size=12).map(tuple),
    draws=st.lists(draw_marks, max_size=70).map(tuple),
    next_due=st.none() | days,
    title=texts,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=timelines, width=st.integers(min_value=200, max_value=1600))
def test_any_timeline_renders_a_well_formed_picture_inside_its_viewbox(data, width):
    svg = render_timeline_svg(data, width=width)
    root = parse(svg)
    assert "style=" not in svg and root.find("desc").text
    _x0, _y0, view_w, view_h = map(float, root.get("viewBox").split())
    for el in root.iter():
        if el.get("transform", "").startswith("translate") and el.get("data-number"):
            x, y = xy(el)
            assert 0 <= x <= view_w and 0 <= y <= view_h
    shown = set(draw_markers(root))
    assert shown == {d.number for d in data.draws if d.status != "cancelled"}
