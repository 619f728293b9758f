from rest_framework.routers import SimpleRouter

router = SimpleRouter()
# Registered by patients/api/views.py: patients, treatments, assessments, appointments.

urlpatterns = router.urls
