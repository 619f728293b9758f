from rest_framework.routers import SimpleRouter

from chart.api import views

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")

urlpatterns = router.urls
