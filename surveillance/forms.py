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
        max_length=40, required=False, help_text="e.g. D538G, p.Asp538Gly"
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

    def service_data(self) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        data.setdefault("note", "")
        return data
