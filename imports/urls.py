from django.urls import path

from imports import views

urlpatterns = [
    path("", views.inbox, name="import-inbox"),
    path("upload/", views.upload, name="import-upload"),
    path("<int:message_id>/", views.message_detail, name="import-detail"),
]
