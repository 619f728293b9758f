from rest_framework.routers import SimpleRouter

from patients.api import views

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("treatments", views.TreatmentViewSet, basename="treatment")
router.register("assessments", views.AssessmentViewSet, basename="assessment")
router.register("appointments", views.AppointmentViewSet, basename="appointment")

urlpatterns = router.urls
