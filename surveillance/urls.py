from django.urls import path

from surveillance import views

urlpatterns = [
    path("patients/<int:patient_id>/draws/new/", views.draw_create, name="draw-create"),
    path("draws/<int:draw_id>/result/", views.result_create, name="result-create"),
    path("draws/variant-row/", views.variant_row, name="variant-row"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve_view, name="alert-resolve"),
]
