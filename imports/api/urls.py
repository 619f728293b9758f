from django.urls import path
from rest_framework.routers import SimpleRouter

from imports.api import views

router = SimpleRouter()
router.register("imports", views.ImportMessageViewSet, basename="import")

urlpatterns = [
    path("imports/fhir/", views.FhirImportView.as_view(), name="import-fhir"),
    path("imports/hl7v2/", views.Hl7v2ImportView.as_view(), name="import-hl7v2"),
    path("imports/csv/", views.CsvImportView.as_view(), name="import-csv"),
    *router.urls,
]
