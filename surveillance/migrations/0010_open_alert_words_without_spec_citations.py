import re

from django.db import migrations

# The rule names as the rules word them now (surveillance.rules.RULE_NAMES), frozen here.
RULE_NAMES = {
    "esr1_switch": "ESR1 mutation on first-line AI + CDK4/6 inhibitor before progression",
    "esr1_at_progression": (
        "ESR1 mutation on first-line AI + CDK4/6 inhibitor after documented progression"
    ),
    "esr1_vus_review": "ESR1 variant outside the known activating ligand-binding-domain mutations",
    "draw_due": "ctDNA draw coming due",
    "draw_overdue": "ctDNA draw overdue",
    "redraw_needed": "Redraw after a failed ctDNA result",
    "result_overdue": "ctDNA result not back from the laboratory",
}
RULE_CITATION = re.compile(r" \(SPEC rule 5, policy v(\d+)\)")
SECTION_CITATION = " (SPEC section 4)"


def reworded(kind: str, rationale: str) -> str:
    """The rationale without its citations of the specification, ending with the rule in
    clinical words and the policy version it cited."""
    text = rationale.replace(SECTION_CITATION, "")
    match = RULE_CITATION.search(text)
    if match is None:
        return text
    text = RULE_CITATION.sub("", text).rstrip()
    return f"{text} Rule: {RULE_NAMES[kind]} (policy v{match[1]})."


def reword_open_alerts(apps, schema_editor):
    # Open alerts are on clinicians' pages until they are resolved, and an ESR1 alert the
    # rules no longer raise (say, after progression) is never rewritten by the engine.
    # Resolved alerts keep the words they were decided on.
    Alert = apps.get_model("surveillance", "Alert")
    for alert in Alert.objects.filter(status="open", rationale__contains="SPEC").iterator():
        alert.rationale = reworded(alert.kind, alert.rationale)
        alert.save(update_fields=["rationale"])


class Migration(migrations.Migration):
    dependencies = [("surveillance", "0009_policy_v1_note_in_plain_words")]
    operations = [migrations.RunPython(reword_open_alerts, migrations.RunPython.noop)]
