"""Reports API: staff create, list, inspect, download and delete their reports (all with view_all_reports).

Invoices: a learner downloads the invoices of their own payments; staff with view_payment, any.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apranova.api.serializers import ReportCreateSerializer, ReportSerializer
from apranova.invoices import invoice_path
from apranova.models import Payment, Report
from apranova.services import delete_report_files, pdf_refusal
from core import aprovova, report_store

_FILTERS = {"type": ("report_type", Report.Type.values), "format": ("format", Report.Format.values), "status": ("status", Report.Status.values)}


class ReportListCreate(generics.ListAPIView):
    permission_classes = [permissions.IsAdminUser]
    serializer_class = ReportSerializer

    def get_queryset(self):
        queryset = Report.visible_to(self.request.user)
        for param, (field, allowed) in _FILTERS.items():
            value = self.request.query_params.get(param)
            if value is None:
                continue
            if value not in allowed:
                raise ValidationError({param: [f"'{value}' is not one of {', '.join(allowed)}."]})
            queryset = queryset.filter(**{field: value})
        return queryset

    def post(self, request: Request) -> Response:
        from apranova.tasks import generate_report

        incoming = ReportCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        filters = {key: data[key].isoformat() for key in ("date_from", "date_to") if data.get(key)}
        refusal = pdf_refusal(data["type"], data["format"], filters)
        if refusal:
            return Response({"detail": refusal, "errors": {"format": [refusal]}, "max_pdf_rows": settings.APROVOVA_PDF_MAX_ROWS},
                            status=status.HTTP_400_BAD_REQUEST)
        report = Report.objects.create(report_type=data["type"], format=data["format"], filters=filters, created_by=request.user)
        # After commit, so a fast worker never looks for a row it cannot see yet.
        transaction.on_commit(lambda: generate_report.delay(report.pk))
        body = ReportSerializer(report, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


class ReportDetail(generics.RetrieveDestroyAPIView):
    permission_classes = [permissions.IsAdminUser]
    serializer_class = ReportSerializer

    def get_queryset(self):
        # Someone else's report is a 404, not a 403: its existence is not revealed.
        return Report.visible_to(self.request.user)

    def perform_destroy(self, report: Report) -> None:
        delete_report_files(report)
        report.delete()


class ReportDownload(APIView):
    permission_classes = [permissions.IsAdminUser]

    def get(self, request: Request, pk: int) -> HttpResponse:
        report = generics.get_object_or_404(Report.visible_to(request.user), pk=pk)
        if report.status != Report.Status.SUCCEEDED:
            return Response({"detail": f"Report is {report.status}; nothing to download yet.", "status": report.status}, status=409)
        # Whatever the row says, a path outside APROVOVA (or a missing file) is a 404, never a file.
        return _download(report.path, "Report file not found.")


class InvoiceDownload(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request: Request, pk: int) -> HttpResponse:
        payments = Payment.objects.all() if request.user.has_perm("apranova.view_payment") else Payment.objects.filter(user=request.user)
        # Someone else's payment is a 404, as for reports: its existence is not revealed.
        payment = generics.get_object_or_404(payments.select_related("user"), pk=pk)
        if not payment.invoice_number:
            return Response({"detail": f"Payment is {payment.status}; only paid payments have an invoice.", "status": payment.status},
                            status=409)
        return _download(report_store.relative_key(invoice_path(payment)),
                         "Invoice file not found (it is written shortly after the payment).")


def _download(relative: str, missing: str) -> HttpResponse:
    """A stored file by its path relative to APROVOVA, from the bucket or the local tree; else 404."""
    if report_store.is_remote():
        stored = report_store.open_object(relative) if relative else None
        if stored is None:
            raise Http404(missing)
        return _object_response(stored)
    file_path = aprovova.resolve_inside(relative) if relative else None
    if file_path is None:
        raise Http404(missing)
    return _file_response(file_path)


def _object_response(stored: report_store.StoredObject) -> HttpResponse:
    """The bucket's object streamed through the app, in chunks: memory stays flat for any size."""
    content_type = mimetypes.guess_type(stored.name)[0] or "application/octet-stream"
    response = StreamingHttpResponse(stored.chunks, content_type=content_type)
    response["Content-Length"] = str(stored.size)
    response["Content-Disposition"] = f'attachment; filename="{stored.name}"'
    return response


def _file_response(file_path: Path) -> HttpResponse:
    """The file as an attachment: through nginx's internal location in production, else streamed."""
    content_type = mimetypes.guess_type(file_path.name)[0] or "application/octet-stream"
    if settings.APROVOVA_X_ACCEL_REDIRECT:
        return _x_accel_response(file_path, content_type)
    return FileResponse(file_path.open("rb"), as_attachment=True, filename=file_path.name, content_type=content_type)


def _x_accel_response(file_path: Path, content_type: str) -> HttpResponse:
    relative = file_path.relative_to(aprovova.root().resolve()).as_posix()
    response = HttpResponse(content_type=content_type)
    response["X-Accel-Redirect"] = settings.APROVOVA_X_ACCEL_PREFIX.rstrip("/") + "/" + quote(relative)
    response["Content-Disposition"] = f'attachment; filename="{file_path.name}"'
    return response
