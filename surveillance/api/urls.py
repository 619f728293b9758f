from django.urls import path
from rest_framework.routers import SimpleRouter

from surveillance.api.alerts import AlertViewSet, WorklistView

router = SimpleRouter()
router.register("alerts", AlertViewSet, basename="alert")

urlpatterns = router.urls + [path("worklist/", WorklistView.as_view(), name="worklist")]
