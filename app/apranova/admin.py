from __future__ import annotations

from django.contrib import admin, messages

from apranova.models import Batch, Course, Enrollment, Payment, Profile, Report


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "phone", "country", "created_at"]
    search_fields = ["user__username", "user__email", "phone"]
    raw_id_fields = ["user"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "price", "currency"]
    search_fields = ["code", "title"]


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["code", "course", "start_date", "end_date", "capacity"]
    list_filter = ["course"]
    search_fields = ["code"]
    date_hierarchy = "start_date"


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["user", "batch", "status", "enrolled_at"]
    list_filter = ["status"]
    search_fields = ["user__username", "user__email", "batch__code"]
    raw_id_fields = ["user", "batch"]  # Select widgets with a million options would hang the page.


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "invoice_number", "user", "batch", "amount", "currency", "status", "provider", "created_at", "paid_at"]
    list_filter = ["status", "currency", "provider"]
    search_fields = ["invoice_number", "provider_reference", "user__email"]
    raw_id_fields = ["user", "batch"]
    # Given by mark_paid() from the sequence and used as the invoice's file name: never typed in.
    readonly_fields = ["invoice_number"]
    list_select_related = ["user", "batch"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page view is wasted work.
    actions = ["generate_invoices"]

    @admin.action(description="Generate invoice PDFs (paid payments)")
    def generate_invoices(self, request, queryset) -> None:
        from apranova.tasks import generate_invoice

        paid = list(queryset.filter(status=Payment.Status.PAID).values_list("pk", flat=True)[:1000])
        for pk in paid:
            generate_invoice.delay(pk)
        self.message_user(request, f"Queued {len(paid)} invoice(s).", messages.SUCCESS)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "report_type", "format", "status", "row_count", "size_bytes", "created_by", "created_at", "finished_at"]
    list_filter = ["report_type", "format", "status"]
    readonly_fields = ["path", "artifacts", "size_bytes", "checksum_sha256", "row_count", "error", "started_at", "finished_at"]

    def get_queryset(self, request):
        # The same rule as the API: staff see their own reports unless they may view all.
        return Report.visible_to(request.user)
