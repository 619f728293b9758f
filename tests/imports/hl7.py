"""HL7 v2 ORU^R01 messages for the pipeline tests, in the layout of SPEC 7 (MSH, PID, OBR,
variant OBX rows grouped by OBX-4, SPM)."""

from datetime import date


def _ts(day: date) -> str:
    return day.strftime("%Y%m%d")


def oru(
    *,
    control_id: str = "MSG00001",
    mrn: str = "MRN-A",
    birth_date: date = date(1960, 3, 1),
    accession: str = "ACC-1",
    collected_on: date,
    reported_on: date,
    status: str = "F",
    variants=(("ESR1", "NP_000116.2:p.Asp538Gly", "0.7"),),
    terminator: str = "\r",
) -> str:
    obr = ["OBR", "1", "", accession, "81247-9^Master HL7 genetic variant reporting panel^LN"]
    obr += ["", "", _ts(collected_on)] + [""] * 14 + [_ts(reported_on), "", "", status]
    segments = [
        f"MSH|^~\\&|GH_LIS|GUARDANT|ESR1WATCH|CLINIC|{_ts(reported_on)}120000||ORU^R01^ORU_R01|"
        f"{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^CLINIC^MR||Doe^Jane||{_ts(birth_date)}|F",
        "|".join(obr),
    ]
    n = 0
    for group, (gene, change, vaf) in enumerate(variants, start=1):
        n += 1
        segments.append(f"OBX|{n}|CWE|48018-6^Gene studied^LN|{group}|^{gene}^HGNC||||||F")
        n += 1
        segments.append(f"OBX|{n}|CWE|48005-3^Amino acid change^LN|{group}|{change}^^HGVS||||||F")
        if vaf:
            n += 1
            segments.append(
                f"OBX|{n}|NM|81258-6^Sample variant allelic frequency^LN|{group}|{vaf}|"
                "%^percent^UCUM|||||F"
            )
    segments.append(f"SPM|1|{accession}||BLD^Whole blood^HL70487|||||||||||||{_ts(collected_on)}")
    return terminator.join(segments) + terminator
