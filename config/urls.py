from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as accounts_views
from accounts.permissions import RoleActionPermission
from accounts.roles import Action
from config import health
from programme.api import MetricsView
from surveillance import views as surveillance_views

admin.site.site_header = "ESR1 Watch administration"
admin.site.site_title = "ESR1 Watch"


class SchemaView(SpectacularAPIView):
    """SPEC 1: the schema is for people signed in; system accounts read nothing."""

    permission_classes = [RoleActionPermission]
    role_actions = {"GET": Action.WEB_SIGN_IN}


api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("chart.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("surveillance.api.urls")),
    path("", include("imports.api.urls")),
    path("metrics/", MetricsView.as_view(), name="metrics"),
]

urlpatterns = [
    path("", surveillance_views.home, name="home"),
    path("patients/", include("chart.urls")),
    path("patients/", include("patients.urls")),
    path("", include("surveillance.urls")),
    path("metrics/", include("programme.urls")),
    path("imports/", include("imports.urls")),
    path("", include("accounts.urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Before the admin's own: the admin signs in through the same two steps.
    path("admin/login/", accounts_views.admin_login),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    # SPEC 1: anonymous users get the sign-in page, the probes and static files only.
    path("api/schema/", SchemaView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline,
    # so the docs work under the Content-Security-Policy.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
]
