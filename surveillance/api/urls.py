from django.urls import path
from rest_framework.routers import SimpleRouter

from surveillance.api.alerts import AlertViewSet, WorklistView
from surveillance.api.records import DrawViewSet, ResultViewSet

router = SimpleRouter()
router.register("draws", DrawViewSet, basename="draw")
router.register("results", ResultViewSet, basename="result")
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = router.urls + [path("worklist/", WorklistView.as_view(), name="worklist")]
