from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from apranova.models import Report


class ReportCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Report.Type.choices)
    format = serializers.ChoiceField(choices=Report.Format.choices)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["date_to must not be before date_from."]})
        return attrs


class ReportSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="report_type")
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = Report
        fields = [
            "id", "type", "format", "filters", "status", "status_url", "download_url", "size_bytes",
            "checksum_sha256", "row_count", "error", "created_by", "created_at", "started_at", "finished_at",
        ]

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_status_url(self, report: Report) -> str:
        return self._absolute(reverse("report-detail", args=[report.pk]))

    def get_download_url(self, report: Report) -> str | None:
        if report.status != Report.Status.SUCCEEDED:
            return None
        return self._absolute(reverse("report-download", args=[report.pk]))
