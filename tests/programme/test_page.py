"""The programme page and its CSV download: the same figures as the API, charts with text
equivalents, nothing that names a patient, nothing the Content-Security-Policy refuses."""

import csv
import io
import re
from xml.etree import ElementTree

import pytest

from accounts.roles import Role
from tests.factories import TODAY, UserFactory
from tests.programme.cohort import A, B, build_clinic

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def clinic():
    return build_clinic()


def period(start=A, end=TODAY) -> dict:
    return {"from": start.isoformat(), "to": end.isoformat()}


def svgs(html: str) -> list[ElementTree.Element]:
    return [ElementTree.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


@pytest.mark.parametrize("role", [Role.ONCOLOGIST, Role.NURSE, Role.ADMIN])
def test_each_reading_role_sees_figures_charts_and_tables(client, clinic, make_user, role):
    client.force_login(make_user(f"page-{role}", role))
    response = client.get("/metrics/", period())
    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/metrics/" aria-current="page">Programme</a>' in html
    assert "71.4%" in html  # draws on time (test_metrics.py counts it)
    assert "11.4 days" in html  # turnaround, 90th percentile
    charts = svgs(html)
    names = {svg.get("id"): svg.find(f"{SVG}title").text for svg in charts}
    assert set(names) == {"chart-funnel", "chart-on-time", "chart-turnaround", "chart-detections"}
    for svg in charts:
        assert svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert svg.get("aria-labelledby") == title.get("id")
        assert svg.get("aria-describedby") == desc.get("id")
        assert desc.text
    month_table = html[html.index('id="table-by-month"') :]
    assert f"{A:%B %Y}" in month_table and f"{B:%B %Y}" in month_table
    assert "Nora North" in html[html.index('id="table-by-oncologist"') :]


def test_table_rows_show_each_figure_its_cases_and_escaped_names(client, clinic, nurse):
    clinic.south.first_name = "<b>Sam</b>"
    clinic.south.save()
    client.force_login(nurse)
    html = client.get("/metrics/", period()).content.decode()
    table = html[html.index('id="table-by-oncologist"') :]
    assert "<b>Sam</b>" not in table
    row = re.search(r'<tr><th scope="row">&lt;b&gt;Sam&lt;/b&gt; South</th>(.*?)</tr>', table)
    cells = re.findall(r"<td( class=\"pm-withheld\")?>(.*?)</td>", row.group(1))
    assert len(cells) == 13
    # South's patients: 2 draws due with a known outcome, too few for a share (withheld).
    assert cells[2] == (' class="pm-withheld"', '— <span class="pm-n">n=2</span>')
    assert cells[8] == ("", "2")  # ESR1 detections: a count, always shown, no case count


def test_charts_say_in_words_what_they_draw(client, clinic, nurse):
    client.force_login(nurse)
    html = client.get("/metrics/", period()).content.decode()
    desc = {svg.get("id"): svg.find(f"{SVG}desc").text for svg in svgs(html)}
    assert desc["chart-on-time"].startswith(f"{A:%B %Y}: 60% of 5 on time; {B:%B %Y}: 2 draws")
    assert (
        f"{A:%B %Y}: median 7 days, 90th percentile 9.2 days (5 results)"
        in (desc["chart-turnaround"])
    )
    assert f"{B:%B %Y}: 1 before progression, 1 at progression" in desc["chart-detections"]
    assert desc["chart-funnel"] == (
        "Monitored: 10 patients; Tested: 9 patients; ESR1 detected: 3 patients; "
        "Switched: 1 patients."
    )


def test_page_keeps_to_the_content_security_policy(client, clinic, oncologist):
    client.force_login(oncologist)
    html = client.get("/metrics/", period()).content.decode()
    assert "style=" not in html and "<style" not in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all('src="/static/' in tag for tag in scripts)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    assert "/static/css/programme" in html and "/static/js/print" in html


def test_a_bad_period_shows_the_error_and_no_figures(client, nurse):
    client.force_login(nurse)
    response = client.get("/metrics/", {"from": "2026-05-01", "to": "2026-04-01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "is before its start" in html
    assert "chart-on-time" not in html and "Download CSV" not in html


def test_without_a_period_the_form_shows_the_last_twelve_months(client, nurse):
    client.force_login(nurse)
    html = client.get("/metrics/").content.decode()
    assert f'value="{TODAY.isoformat()}"' in html
    assert html.count('<tr><th scope="row">') >= 12


def read_csv(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_the_period_each_month_and_each_oncologist(client, clinic, admin_user):
    client.force_login(admin_user)
    response = client.get("/metrics/export.csv", period())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"esr1-programme-metrics-{A}-{TODAY}.csv" in response["Content-Disposition"]
    rows = read_csv(response)
    assert [(r["scope"], r["month_or_oncologist"]) for r in rows] == [
        ("all", ""), ("month", f"{A:%Y-%m}"), ("month", f"{B:%Y-%m}"),
        ("month", f"{TODAY:%Y-%m}"), ("oncologist", "dr.north"), ("oncologist", "dr.south"),
    ]  # fmt: skip
    whole, first = rows[0], rows[1]
    assert (whole["from"], whole["to"]) == (A.isoformat(), TODAY.isoformat())
    assert whole["draws_due"] == "7" and whole["draws_on_time_pct"] == "71.4"
    assert whole["draws_on_time_pct_n"] == "7"
    assert whole["detected_before_progression_pct"] == ""  # too few: empty, with its n
    assert whole["detected_before_progression_pct_n"] == "3"
    assert whole["decisions_deferred"] == "1" and whole["funnel_tested"] == "9"
    assert first["turnaround_days_p90"] == "9.2" and first["funnel_tested"] == ""
    assert rows[4]["name"] == "Nora North"


def test_csv_cells_that_would_start_a_formula_are_text(client, clinic, nurse):
    UserFactory(username="dr.formula", first_name="=HYPERLINK(\"http://x\")", last_name="",
                role="oncologist")  # fmt: skip
    client.force_login(nurse)
    rows = read_csv(client.get("/metrics/export.csv", period()))
    formula = next(r for r in rows if r["month_or_oncologist"] == "dr.formula")
    assert formula["name"] == '\'=HYPERLINK("http://x")'


def test_no_patient_can_be_recognised_on_the_page_or_in_the_csv(client, clinic, admin_user):
    client.force_login(admin_user)
    html = client.get("/metrics/", period()).content.decode()
    text = b"".join(client.get("/metrics/export.csv", period()).streaming_content).decode()
    for word in clinic.identifying_words():
        assert word not in html, word
        assert word not in text, word
    assert "/patients/" not in html


def test_csv_refuses_a_bad_period(client, nurse):
    client.force_login(nurse)
    assert client.get("/metrics/export.csv", {"from": "soon"}).status_code == 400


def test_page_query_count_is_fixed(client, clinic, nurse, django_assert_max_num_queries):
    client.force_login(nurse)
    client.get("/metrics/", period())
    # Session, user, the figures' six statements, the session's idle-logoff timestamp.
    with django_assert_max_num_queries(11):
        client.get("/metrics/", {"from": "2020-01-01", "to": TODAY.isoformat()})
