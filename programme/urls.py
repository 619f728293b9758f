from django.urls import path

from programme import views

urlpatterns = [
    path("", views.metrics_page, name="metrics"),
    path("export.csv", views.metrics_export, name="metrics-export"),
]
