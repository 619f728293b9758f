from django.urls import path

from patients import views

# Under /patients/, next to the list and the patient page of chart.urls.
urlpatterns = [
    path("new/", views.patient_create, name="patient-create"),
    path("<int:patient_id>/edit/", views.patient_edit, name="patient-edit"),
    path("<int:patient_id>/treatments/new/", views.treatment_create, name="treatment-create"),
    path(
        "<int:patient_id>/treatments/<int:treatment_id>/edit/",
        views.treatment_edit,
        name="treatment-edit",
    ),
    path("<int:patient_id>/assessments/new/", views.assessment_create, name="assessment-create"),
    path("<int:patient_id>/appointments/new/", views.appointment_create, name="appointment-create"),
]
