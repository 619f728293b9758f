from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.views import TokenObtainView
from config import health
from surveillance import views as surveillance_views

admin.site.site_header = "ESR1 Watch administration"
admin.site.site_title = "ESR1 Watch"

api_v1 = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("", include("patients.api.urls")),
    path("", include("surveillance.api.urls")),
]

urlpatterns = [
    path("", surveillance_views.home, name="home"),
    path("patients/", include("patients.urls")),
    path("", include("surveillance.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
