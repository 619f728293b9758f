"""DRF permission classes built on accounts.roles, so the API and pages share one policy."""

from rest_framework.permissions import BasePermission

from accounts.roles import can


class RoleActionPermission(BasePermission):
    """Grants a request when the user's role allows the action mapped to its method.

    A view sets ``role_actions = {"GET": Action.VIEW_CLINICAL, "POST": ..., "PATCH": ...}``;
    a method missing from the map is refused (so nobody deletes by accident).
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        actions = getattr(view, "role_actions", {})
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        if method == "PUT":
            method = "PATCH"
        action = actions.get(method)
        return action is not None and can(request.user, action)
