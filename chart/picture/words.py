"""The picture's words: clinical names, dates and VAFs as a reader sees them, and the
``<desc>`` a screen reader announces, which carries the clinical story in sentences."""

from __future__ import annotations

from datetime import date

from chart.picture.data import (
    USABLE,
    AssessmentMark,
    DrawMark,
    TimelineData,
    TreatmentBar,
    draw_kind,
    first_detections,
    vafs,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
END_REASONS = {
    "progression": "progression",
    "esr1_switch": "ESR1 switch",
    "toxicity": "toxicity",
    "completed": "completed",
    "patient_choice": "patient choice",
    "death": "death",
    "other": "other reason",
}
MODALITIES = {
    "ct": "CT",
    "pet_ct": "PET-CT",
    "bone_scan": "Bone scan",
    "mri": "MRI",
    "other": "Imaging",
}
RESPONSES = {
    "CR": "complete response",
    "PR": "partial response",
    "SD": "stable disease",
    "PD": "progressive disease",
    "NE": "not evaluable",
}
DRAW_KINDS = {
    # marker kind (class suffix tl-draw-<kind>): legend text, in legend order
    "detected": "ESR1 detected",
    "not-detected": "ESR1 not detected",
    "failed": "result failed",
    "pending": "awaiting result",
    "planned": "planned",
}


def long_date(d: date) -> str:
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def vaf_text(value: float) -> str:
    """0.4 -> "0.4", 0.35 -> "0.35", 12.34 -> "12.3": two significant figures below 1%."""
    return f"{value:.2g}" if value < 1 else f"{min(value, 100.0):.3g}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def line_name(t: TreatmentBar) -> str:
    return "Adjuvant" if t.setting == "adjuvant" else f"Line {t.line_number}"


def end_reason_name(reason: str) -> str:
    return END_REASONS.get(reason, reason.replace("_", " "))


def describe(
    data: TimelineData,
    treatments: list[TreatmentBar],
    assessments: list[AssessmentMark],
    draws: list[DrawMark],
) -> str:
    """The story in sentences: counts, current treatment, ESR1 switches, first
    detections and the latest result, progression, the next draw."""
    if not (treatments or assessments or draws):
        text = "No treatments or draws recorded yet."
        if data.next_due:
            text += f" Next draw due {data.next_due.isoformat()}."
        return text
    sentences = [_counts(treatments, assessments, draws)]
    sentences += _treatment_story(treatments, data.today)
    sentences += _ctdna_story(draws)
    progression = [a.on.isoformat() for a in assessments if a.response == "PD"]
    if progression:
        sentences.append("Radiographic progression (PD) on " + ", ".join(progression))
    if data.next_due:
        sentences.append(f"Next draw due {data.next_due.isoformat()}")
    return ". ".join(sentences) + "."


def _counts(
    treatments: list[TreatmentBar], assessments: list[AssessmentMark], draws: list[DrawMark]
) -> str:
    kinds = [draw_kind(d) for d in draws]
    counts = [
        (kinds.count("detected") + kinds.count("not-detected"), "with a result"),
        (kinds.count("failed"), "failed"),
        (kinds.count("pending"), "awaiting result"),
        (kinds.count("planned"), "planned"),
    ]
    breakdown = ", ".join(f"{count} {what}" for count, what in counts if count)
    text = plural(len(treatments), "treatment")
    text += f", {plural(len(draws), 'draw')}" + (f" ({breakdown})" if breakdown else "")
    return text + f", {plural(len(assessments), 'scan')}"


def _treatment_story(treatments: list[TreatmentBar], today: date) -> list[str]:
    sentences = []
    current = [t for t in treatments if t.start <= today and (t.end is None or t.end > today)]
    for t in current:
        kind = " (ctDNA surveillance)" if t.is_surveillance else ""
        sentences.append(
            f"Current treatment: {t.label}, {line_name(t).lower()}{kind}, "
            f"since {t.start.isoformat()}"
        )
    for t in treatments:
        if t.end_reason == "esr1_switch" and t.end is not None:
            sentences.append(f"{t.label} ended by an ESR1 switch on {t.end.isoformat()}")
    return sentences


def _ctdna_story(draws: list[DrawMark]) -> list[str]:
    kinds = [draw_kind(d) for d in draws]
    detections = first_detections(draws)
    if not detections:
        if "not-detected" in kinds:
            return [f"ESR1 not detected in {plural(kinds.count('not-detected'), 'result')}"]
        return ["No ctDNA results yet"]
    sentences = [
        f"ESR1 {short} first detected {d.on.isoformat()} at {vaf_text(vaf)}% (draw {d.number})"
        for short, d, vaf in detections
    ]
    latest = [d for d in draws if draw_kind(d) in USABLE][-1]
    if latest.on > detections[0][1].on:
        found = vafs(latest)
        status = (
            ", ".join(f"{s} {vaf_text(v)}%" for s, v in found.items())
            if found
            else "ESR1 not detected"
        )
        sentences.append(f"Latest result {latest.on.isoformat()}: {status}")
    return sentences
