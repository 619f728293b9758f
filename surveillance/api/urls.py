from django.urls import path
from rest_framework.routers import SimpleRouter

from surveillance.api import views

router = SimpleRouter()
router.register("draws", views.DrawViewSet, basename="draw")
router.register("results", views.ResultViewSet, basename="result")
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = router.urls + [path("worklist/", views.WorklistView.as_view(), name="worklist")]
