"""FHIR Genomics Reporting bundles for the pipeline tests: a DiagnosticReport, its Patient,
Specimen and variant Observations (LOINC 69548-6), referenced by urn:uuid full URLs."""

import json
from datetime import date

LOINC = "http://loinc.org"


def _variant(uid: str, gene: str, change: str, vaf: str | None) -> dict:
    components = [
        {
            "code": {"coding": [{"system": LOINC, "code": "48018-6", "display": "Gene studied"}]},
            "valueCodeableConcept": {
                "coding": [{"system": "http://www.genenames.org/geneId", "display": gene}]
            },
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "48005-3"}]},
            "valueCodeableConcept": {
                "coding": [{"system": "http://varnomen.hgvs.org", "code": change}]
            },
        },
    ]
    if vaf is not None:
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": "81258-6"}]},
                "valueQuantity": {
                    "value": float(vaf),
                    "unit": "%",
                    "system": "http://unitsofmeasure.org",
                    "code": "%",
                },
            }
        )
    return {
        "fullUrl": f"urn:uuid:{uid}",
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {
                "coding": [
                    {"system": LOINC, "code": "69548-6", "display": "Genetic variant assessment"}
                ]
            },
            "subject": {"reference": "urn:uuid:00000000-0000-0000-0000-00000000000a"},
            "valueCodeableConcept": {
                "coding": [{"system": LOINC, "code": "LA9633-4", "display": "Present"}]
            },
            "component": components,
        },
    }


def bundle(
    *,
    report_id: str = "GH-REPORT-1",
    status: str = "final",
    mrn: str = "MRN-A",
    birth_date: date = date(1960, 3, 1),
    accession: str = "ACC-1",
    collected_on: date,
    reported_on: date,
    variants=(("ESR1", "NP_000116.2:p.Asp538Gly", "0.7"),),
) -> str:
    patient = "urn:uuid:00000000-0000-0000-0000-00000000000a"
    specimen = "urn:uuid:00000000-0000-0000-0000-00000000000b"
    observations = [
        _variant(f"00000000-0000-0000-0000-0000000001{i:02d}", *v) for i, v in enumerate(variants)
    ]
    report = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": "https://lab.example.org/reports", "value": report_id}],
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": "81247-9"}]},
        "subject": {"reference": patient},
        "issued": f"{reported_on.isoformat()}T10:00:00Z",
        "specimen": [{"reference": specimen}],
        "result": [{"reference": o["fullUrl"]} for o in observations],
    }
    entries = [
        {"fullUrl": "urn:uuid:00000000-0000-0000-0000-0000000000ff", "resource": report},
        {
            "fullUrl": patient,
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {
                        "type": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                    "code": "MR",
                                }
                            ]
                        },
                        "value": mrn,
                    }
                ],
                "birthDate": birth_date.isoformat(),
            },
        },
        {
            "fullUrl": specimen,
            "resource": {
                "resourceType": "Specimen",
                "accessionIdentifier": {"value": accession},
                "collection": {"collectedDateTime": collected_on.isoformat()},
            },
        },
        *observations,
    ]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
