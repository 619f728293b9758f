from django.urls import path

from chart import views

# Under /patients/, next to the record forms of patients.urls.
urlpatterns = [
    path("", views.patient_index, name="patient-list"),
    path("<int:patient_id>/", views.patient_detail, name="patient-detail"),
    path("<int:patient_id>/summary/", views.patient_summary, name="patient-summary"),
]
