from django.urls import path

from apranova.api import views

urlpatterns = [
    path("reports/", views.ReportListCreate.as_view(), name="report-list"),
    path("reports/<int:pk>/", views.ReportDetail.as_view(), name="report-detail"),
    path("reports/<int:pk>/download/", views.ReportDownload.as_view(), name="report-download"),
    path("payments/<int:pk>/invoice/", views.InvoiceDownload.as_view(), name="payment-invoice"),
]
