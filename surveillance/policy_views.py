"""The policy page: the surveillance policy in force, in plain words, with its earlier versions.

Alert rows, the decision form and the patient page link "policy vN" here. Signed-in clinical
users and administrators may read it; administrators change it in the Django admin.
"""

from django.db.models import IntegerField
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.decorators import role_required
from accounts.roles import Action
from surveillance import policy_words
from surveillance.models import SurveillancePolicy
from surveillance.selectors import policy_versions

# The policy's numbers: every integer field but the row's identity.
_NOT_TERMS = {"id", "version"}


def _numbers(policy: SurveillancePolicy) -> dict[str, int]:
    return {
        f.name: getattr(policy, f.name)
        for f in SurveillancePolicy._meta.concrete_fields
        if isinstance(f, IntegerField) and f.name not in _NOT_TERMS and not f.is_relation
    }


@require_safe
@role_required(Action.VIEW_POLICY)
def policy_page(request, version: int | None = None):
    versions = policy_versions()
    if not versions:
        raise Http404("No surveillance policy has been saved yet.")
    in_force = versions[0]
    if version is None:
        shown = in_force
    else:
        shown = next((p for p in versions if p.version == version), None)
        if shown is None:
            raise Http404(f"There is no policy version {version}.")
    index = versions.index(shown)
    previous = versions[index + 1] if index + 1 < len(versions) else None
    superseded_by = versions[index - 1] if index > 0 else None
    terms = policy_words.policy_terms(
        _numbers(shown), _numbers(previous) if previous is not None else None
    )
    return render(
        request,
        "surveillance/policy.html",
        {
            "policy": shown,
            "in_force": in_force,
            "previous": previous,
            "superseded_by": superseded_by,
            "terms": terms,
            "versions": versions,
            "alert_rules": policy_words.alert_rules(),
            "activating": policy_words.known_activating_mutations(),
        },
    )
