from django.urls import path, re_path

from accounts.api import views

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="api-token"),
    path("auth/logout/", views.LogoutView.as_view(), name="api-logout"),
    path("auth/tokens/", views.TokenListView.as_view(), name="api-token-list"),
    # The id as the router routes take it: a word is a 404, like an unknown number.
    re_path(
        r"^auth/tokens/(?P<pk>[^/.]+)/$",
        views.TokenDetailView.as_view(),
        name="api-token-detail",
    ),
]
