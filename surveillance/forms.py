from django import forms

from patients.forms import DATE_WIDGET
from patients.models import Drug, DrugClass
from surveillance.models import Assay, Decision, ResultStatus


class DrawForm(forms.Form):
    collected_on = forms.DateField(widget=DATE_WIDGET)
    assay = forms.ChoiceField(choices=Assay.choices)
    accession = forms.CharField(required=False, max_length=64)


class ResultForm(forms.Form):
    reported_on = forms.DateField(widget=DATE_WIDGET)
    status = forms.ChoiceField(
        choices=ResultStatus.choices,
        help_text="'Failed' when the laboratory could not analyse the sample.",
    )
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class VariantRowForm(forms.Form):
    gene = forms.CharField(max_length=16, initial="ESR1", required=False)
    protein_change = forms.CharField(
        max_length=200,
        required=False,
        help_text="e.g. D538G, p.Asp538Gly; another gene's fusion as the laboratory wrote it",
    )
    vaf_percent = forms.CharField(label="VAF %", max_length=12, required=False)

    def is_blank(self) -> bool:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not (data.get("protein_change") or data.get("vaf_percent"))


VariantFormSet = forms.formset_factory(VariantRowForm, extra=1, max_num=30)


class ResolveForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    switch_date = forms.DateField(required=False, widget=DATE_WIDGET)
    new_endocrine_therapy = forms.ChoiceField(label="New SERD", required=False)
    date = forms.DateField(label="Repeat draw date", required=False, widget=DATE_WIDGET)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # The evidence the page showed: its version (a decision on changed evidence is refused)
    # and its result ids (so the page can say which results came in meanwhile).
    evidence_version = forms.IntegerField(
        widget=forms.HiddenInput,
        min_value=1,
        error_messages={
            "required": "The form did not say which evidence it showed; open the alert again.",
            "invalid": "The form did not say which evidence it showed; open the alert again.",
        },
    )
    seen_results = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, decisions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if decisions is not None:
            self.fields["decision"].choices = [
                (value, label) for value, label in Decision.choices if value in decisions
            ]
        serds = Drug.objects.filter(drug_class=DrugClass.SERD)
        self.fields["new_endocrine_therapy"].choices = [("", "—")] + [
            (d.code, f"{d.name} — {d.status_note}" if d.status_note else d.name) for d in serds
        ]

    def clean_seen_results(self) -> list[int] | None:
        """The result ids as a list; None when the page did not send a readable list."""
        value = self.cleaned_data["seen_results"].strip()
        if not value:
            return None if "seen_results" not in self.data else []
        parts = value.split(",")
        if not all(p.strip().isdigit() for p in parts):
            return None
        return [int(p) for p in parts]

    def service_data(self) -> dict:
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if v not in (None, "") and k != "seen_results"
        }
        data.setdefault("note", "")
        return data
