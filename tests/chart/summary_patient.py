"""A patient with a history worth printing: a deferred ESR1 alert, a later result that
opened another, made through the services and the engine as in the clinic."""

from surveillance import engine, services
from tests.factories import TODAY, PatientFactory, TreatmentFactory, days


def patient_with_history(*, oncologist, nurse):
    patient = PatientFactory(oncologist=oncologist, enrolled_on=days(-200))
    TreatmentFactory(patient=patient, start_date=days(-200))
    first = services.draw_record(
        actor=nurse, patient=patient, collected_on=days(-90), assay="guardant360_cdx"
    )
    services.result_record(
        actor=nurse, draw=first, reported_on=days(-80), status="final",
        variants=[{"gene": "ESR1", "protein_change": "D538G", "vaf_percent": "0.4"}],
    )  # fmt: skip
    engine.run_for_patients([patient.id], today=TODAY)
    alert = patient.alerts.get(kind="esr1_switch")
    services.alert_resolve(
        actor=oncologist, alert=alert, decision="deferred", evidence_version=alert.evidence_version,
        note="Low fraction; repeat at the next visit before changing treatment.",
    )  # fmt: skip
    second = services.draw_record(
        actor=nurse, patient=patient, collected_on=days(-30), assay="guardant360_cdx"
    )
    services.result_record(
        actor=nurse, draw=second, reported_on=days(-20), status="final",
        variants=[{"gene": "ESR1", "protein_change": "Y537S", "vaf_percent": "1.3"}],
    )  # fmt: skip
    engine.run_for_patients([patient.id], today=TODAY)
    return patient
