"""One PDF invoice per paid payment, in payment_reports/invoices/<invoice number>.pdf."""
from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from django.utils import timezone
from reportlab.pdfgen.canvas import Canvas

from apranova.models import Payment
from core import aprovova, report_store
from core.atomic import atomic_write


def invoice_path(payment: Payment) -> Path:
    return aprovova.invoice_dir() / f"{payment.invoice_number}.pdf"


def render_invoice(payment: Payment) -> Path:
    """Write (or rewrite, atomically) the invoice of a paid payment."""
    if not payment.invoice_number:
        raise ValueError(f"payment {payment.pk} has no invoice number (status {payment.status})")
    path = invoice_path(payment)
    with atomic_write(path, binary=True) as handle:
        canvas = Canvas(handle, pagesize=A4)
        canvas.setTitle(f"Invoice {payment.invoice_number}")
        width, height = A4
        y = height - 25 * mm
        canvas.setFont("Helvetica-Bold", 18)
        canvas.drawString(20 * mm, y, "Apra Nova — Invoice")
        canvas.setFont("Helvetica", 11)
        lines = [
            ("Invoice number", payment.invoice_number),
            ("Date", f"{timezone.localtime(payment.paid_at):%Y-%m-%d}" if payment.paid_at else "-"),
            ("Billed to", f"{payment.user.get_full_name() or payment.user.username} <{payment.user.email}>"),
            ("Course batch", f"{payment.batch.course.title} ({payment.batch.code})"),
            ("Payment reference", f"{payment.provider} {payment.provider_reference}"),
            ("Amount", f"{payment.amount} {payment.currency}"),
            ("Status", payment.status),
        ]
        for label, value in lines:
            y -= 9 * mm
            canvas.drawString(20 * mm, y, f"{label}:")
            canvas.drawString(70 * mm, y, str(value))
        canvas.showPage()
        canvas.save()
    report_store.publish(path)
    return path
