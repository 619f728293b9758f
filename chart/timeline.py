"""A patient's whole record as one list of dated events (API timeline, patient page).

Reads only: a fixed number of queries whatever the length of the record.
"""

from __future__ import annotations

from django.utils import timezone

from patients.models import Patient
from surveillance.models import Alert, Draw, Result

# Order of events that share a date: what was given, what was seen, what was planned,
# what was sampled, what came back, what the engine concluded.
EVENT_TYPES = ("treatment", "assessment", "appointment", "draw", "result", "alert")


def patient_timeline(*, patient: Patient) -> list[dict]:
    """Every event of the patient, oldest first. Each is a dict with ``type``, ``id``,
    ``date`` (the date it sits on the time axis), ``summary`` and the type's own fields."""
    events = [
        *(_treatment(t) for t in _treatments(patient)),
        *(_assessment(a) for a in patient.assessments.all()),
        *(_appointment(a) for a in patient.appointments.all()),
        *(_draw(d) for d in Draw.objects.filter(patient=patient)),
        *(_result(r) for r in _results(patient)),
        *(_alert(a) for a in Alert.objects.filter(patient=patient).select_related("resolved_by")),
    ]
    events.sort(key=lambda e: (e["date"], EVENT_TYPES.index(e["type"]), e["id"]))
    return events


def _treatments(patient: Patient):
    return patient.treatments.select_related("endocrine_therapy", "cdk46_inhibitor")


def _results(patient: Patient):
    return (
        Result.objects.filter(draw__patient=patient)
        .select_related("draw")
        .prefetch_related("variants")
    )


def _treatment(t) -> dict:
    drugs = [d for d in (t.endocrine_therapy, t.cdk46_inhibitor) if d]
    return {
        "type": "treatment",
        "id": t.id,
        "date": t.start_date,
        "summary": f"Line {t.line_number} {t.setting}: {' + '.join(d.name for d in drugs)}",
        "start_date": t.start_date,
        "end_date": t.end_date,
        "ongoing": t.end_date is None,
        "line_number": t.line_number,
        "setting": t.setting,
        "endocrine_therapy": _drug(t.endocrine_therapy),
        "cdk46_inhibitor": _drug(t.cdk46_inhibitor),
        "end_reason": t.end_reason,
    }


def _drug(drug) -> dict | None:
    if drug is None:
        return None
    return {"code": drug.code, "name": drug.name, "status_note": drug.status_note}


def _assessment(a) -> dict:
    return {
        "type": "assessment",
        "id": a.id,
        "date": a.date,
        "summary": f"{a.get_modality_display()}: {a.get_response_display()}",
        "modality": a.modality,
        "response": a.response,
        "progression": a.response == "PD",
        "note": a.note,
    }


def _appointment(a) -> dict:
    return {
        "type": "appointment",
        "id": a.id,
        "date": a.date,
        "summary": a.get_kind_display(),
        "kind": a.kind,
        "note": a.note,
    }


def _draw(d) -> dict:
    if d.status == "planned":
        when, summary = d.due_date, f"Draw planned, due {d.due_date}"
    else:
        when = d.collected_on or d.due_date or timezone.localdate(d.created_at)
        summary = f"Draw {d.get_status_display().lower()}"
        if d.assay:
            summary += f" ({d.get_assay_display()})"
    return {
        "type": "draw",
        "id": d.id,
        "date": when,
        "summary": summary,
        "status": d.status,
        "due_date": d.due_date,
        "collected_on": d.collected_on,
        "assay": d.assay,
        "accession": d.accession,
    }


def _vaf(vaf_percent) -> str:
    return "VAF not reported" if vaf_percent is None else f"{vaf_percent.normalize():f}%"


def _result(r) -> dict:
    variants = list(r.variants.all())
    summary = r.get_esr1_status_display()
    esr1 = [v for v in variants if v.gene.upper() == "ESR1"]
    if esr1:
        summary += ": " + ", ".join(f"{v.short} {_vaf(v.vaf_percent)}" for v in esr1)
    return {
        "type": "result",
        "id": r.id,
        "date": r.reported_on,
        "summary": summary,
        "draw": r.draw_id,
        "collected_on": r.draw.collected_on,
        "status": r.status,
        "esr1_status": r.esr1_status,
        "variants": [
            {
                "gene": v.gene,
                "protein_change": v.protein_change,
                "short": v.short,
                "vaf_percent": v.vaf_percent,
                "esr1_activating": v.esr1_activating,
                "esr1_vus": v.esr1_vus,
            }
            for v in variants
        ],
    }


def _alert(a) -> dict:
    return {
        "type": "alert",
        "id": a.id,
        "date": timezone.localdate(a.created_at),
        "summary": a.title,
        "kind": a.kind,
        "severity": a.severity,
        "status": a.status,
        "title": a.title,
        "rationale": a.rationale,
        "evidence": a.evidence,
        "policy_version": a.policy_version,
        "created_at": a.created_at,
        "resolved_at": a.resolved_at,
        "resolved_by": a.resolved_by.username if a.resolved_by else None,
        "decision": a.decision,
        "note": a.note,
    }
