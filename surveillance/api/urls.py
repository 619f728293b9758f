from rest_framework.routers import SimpleRouter

router = SimpleRouter()
# draws, results: surveillance/api/records.py; alerts, worklist: surveillance/api/alerts.py

urlpatterns = router.urls + []
