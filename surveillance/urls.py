from django.urls import path

from surveillance import policy_views, views

urlpatterns = [
    path("patients/<int:patient_id>/draws/new/", views.draw_create, name="draw-create"),
    path("draws/<int:draw_id>/result/", views.result_create, name="result-create"),
    path("draws/variant-row/", views.variant_row, name="variant-row"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve_view, name="alert-resolve"),
    path("policy/", policy_views.policy_page, name="policy"),
    path("policy/v<int:version>/", policy_views.policy_page, name="policy-version"),
]
