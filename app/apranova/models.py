"""Learners, courses, batches, enrollments, payments and the record of every generated report."""
from __future__ import annotations

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

INVOICE_SEQUENCE = "apranova_invoice_number_seq"


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    phone = models.CharField(max_length=32, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"profile of {self.user}"


class Course(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="INR")

    def __str__(self) -> str:
        return self.title


class Batch(models.Model):
    """A cohort of a course, with its dates and seat count."""

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="batches")
    code = models.SlugField(max_length=60, unique=True)
    start_date = models.DateField()
    end_date = models.DateField()
    capacity = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "batches"
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="batch_ends_after_start"),
            # A slug in the database too: reports write the code into JSON without escaping it.
            models.CheckConstraint(condition=Q(code__regex=r"^[-a-zA-Z0-9_]+$"), name="batch_code_slug"),
        ]

    def __str__(self) -> str:
        return self.code


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    enrolled_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "batch"], name="one_enrollment_per_batch")]

    def __str__(self) -> str:
        return f"{self.user} in {self.batch}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        FAILED = "failed"
        REFUNDED = "refunded"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="INR")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider = models.CharField(max_length=32, default="razorpay")
    provider_reference = models.CharField(max_length=100)
    # Sequential, assigned only when money arrived (invoices for failed payments would be noise).
    invoice_number = models.CharField(max_length=32, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # Constraints and indexes declared here rather than unique=/db_index= on the fields: those add
        # a second varchar_pattern_ops index per column on PostgreSQL, which only slows bulk loads.
        constraints = [
            models.UniqueConstraint(fields=["provider_reference"], name="payment_provider_reference_unique"),
            models.UniqueConstraint(fields=["invoice_number"], name="payment_invoice_number_unique"),
            # Codes, not prose: the JSON report writes these columns without escaping them (a quote,
            # backslash or control character is refused here, never written into a report).
            models.CheckConstraint(condition=Q(status__in=["pending", "paid", "failed", "refunded"]), name="payment_status_known"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="payment_currency_iso"),
            models.CheckConstraint(condition=Q(provider__regex=r"^[-a-zA-Z0-9_.]+$"), name="payment_provider_code"),
            models.CheckConstraint(condition=Q(invoice_number__regex=r"^[-A-Z0-9_./]+$"), name="payment_invoice_number_code"),
        ]
        # Revenue analytics read paid payments by payment time.
        indexes = [models.Index(fields=["paid_at"], name="payment_paid_at_paid_idx", condition=Q(status="paid"))]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.status})"

    @staticmethod
    def format_invoice_number(sequence_value: int, when) -> str:
        # The year of the business time zone: a payment at 00:30 on 1 January local time is next year's.
        return f"INV-{timezone.localtime(when).year}-{sequence_value:08d}"

    def mark_paid(self, when=None) -> None:
        """Record the payment as paid and give it the next invoice number, once.

        Idempotent under concurrency: the row is locked first, a payment already paid is left as it
        is, and a number once given is never replaced (it names the invoice PDF on disk).
        """
        when = when or timezone.now()
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=self.pk)
            if locked.status == self.Status.PAID and locked.invoice_number:
                self.status, self.paid_at, self.invoice_number = locked.status, locked.paid_at, locked.invoice_number
                return
            if not locked.invoice_number:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT nextval(%s)", [INVOICE_SEQUENCE])
                    (value,) = cursor.fetchone()
                locked.invoice_number = self.format_invoice_number(value, when)
            self.status, self.paid_at, self.invoice_number = self.Status.PAID, when, locked.invoice_number
            self.save(update_fields=["status", "paid_at", "invoice_number"])
            from apranova.tasks import generate_invoice  # Import here: tasks import the models.

            # After commit, so the worker sees the invoice number it is to print.
            transaction.on_commit(lambda: generate_invoice.delay(self.pk))


class Report(models.Model):
    class Type(models.TextChoices):
        USERS = "users"
        PAYMENTS = "payments"
        BATCHES = "batches"
        ANALYTICS = "analytics"

    class Format(models.TextChoices):
        CSV = "csv"
        JSON = "json"
        PDF = "pdf"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    report_type = models.CharField(max_length=16, choices=Type.choices)
    format = models.CharField(max_length=8, choices=Format.choices)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Relative to APROVOVA_REPORTS_DIR, so the volume can move without rewriting rows.
    path = models.CharField(max_length=500, blank=True)
    artifacts = models.JSONField(default=list, blank=True, help_text="Extra files, e.g. analytics charts")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    checksum_sha256 = models.CharField(max_length=64, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Reports hold personal and payment data: staff see their own; this grants everyone's.
        permissions = [("view_all_reports", "Can see, download and delete every user's reports")]

    def __str__(self) -> str:
        return f"{self.report_type}.{self.format} #{self.pk} ({self.status})"

    @classmethod
    def visible_to(cls, user) -> models.QuerySet:
        """The reports a user may see: their own, or all with the view_all_reports permission."""
        reports = cls.objects.select_related("created_by")
        return reports if user.has_perm("apranova.view_all_reports") else reports.filter(created_by=user)
