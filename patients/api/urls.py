from django.urls import path
from rest_framework.routers import SimpleRouter

from patients.api import views
from patients.api.access_log import AccessLogView

# /api/v1/patients/ is chart.api's (the record with its surveillance verdict).
router = SimpleRouter()
router.register("treatments", views.TreatmentViewSet, basename="treatment")
router.register("assessments", views.AssessmentViewSet, basename="assessment")
router.register("appointments", views.AppointmentViewSet, basename="appointment")

urlpatterns = router.urls + [
    path("access-log/", AccessLogView.as_view(), name="access-log"),
]
