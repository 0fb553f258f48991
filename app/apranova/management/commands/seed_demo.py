"""Seed realistic demo data of any size with PostgreSQL COPY (1,000,000 payments in well under a minute).

COPY streams rows to the server without per-row statements or model instances, which is
what makes millions of rows cheap; every run adds data under its own tag, so runs never clash.
A large load (--bulk-from rows or more) also sets the payments table's secondary indexes and
foreign keys aside and rebuilds them afterwards, in the same transaction: maintaining seven
indexes and checking two keys row by row costs six times the load itself.
"""
from __future__ import annotations

import contextlib
import io
import random
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils.timezone import localtime
from psycopg.copy import QueuedLibpqWriter

from apranova.management.bulk_load import indexes_set_aside
from apranova.models import INVOICE_SEQUENCE, Batch, Course, Payment

FIRST = ["Aarav", "Diya", "Ishaan", "Ananya", "Kabir", "Meera", "Rohan", "Saanvi", "Vihaan", "Zara", "Arjun", "Priya", "Noah", "Emma", "Liam", "Sofia"]
LAST = ["Sharma", "Patel", "Iyer", "Reddy", "Nair", "Gupta", "Khan", "Das", "Mehta", "Singh", "Smith", "Garcia", "Müller", "Rossi"]
COUNTRIES = ["IN", "IN", "IN", "IN", "US", "GB", "AE", "SG", "DE"]
COURSES = [
    ("python-foundations", "Python Foundations", "14999.00", "INR"),
    ("data-analytics", "Data Analytics with SQL", "24999.00", "INR"),
    ("ml-engineering", "Machine Learning Engineering", "49999.00", "INR"),
    ("cloud-devops", "Cloud and DevOps", "39999.00", "INR"),
    ("fullstack-web", "Full-Stack Web Development", "34999.00", "INR"),
    ("genai-apps", "Building GenAI Applications", "499.00", "USD"),
]
# Payment outcomes as seen in production: mostly paid, some pending, a few failed or refunded.
STATUSES = [Payment.Status.PAID] * 80 + [Payment.Status.PENDING] * 10 + [Payment.Status.FAILED] * 7 + [Payment.Status.REFUNDED] * 3
PROVIDERS = ["razorpay", "razorpay", "razorpay", "stripe"]


class Command(BaseCommand):
    help = "Seed demo users, batches, enrollments and payments (bulk COPY)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=1000)
        parser.add_argument("--payments", type=int, default=10000)
        parser.add_argument("--batches", type=int, default=24)
        parser.add_argument("--seed", type=int, help="random seed, for reproducible data")
        parser.add_argument("--chunk", type=int, default=100_000, help="payments per COPY")
        parser.add_argument("--bulk-from", type=int, default=100_000,
                            help="from this many payments, rebuild the payments table's indexes after the load "
                                 "(the table is locked until the seed commits)")

    def handle(self, *args, users: int, payments: int, batches: int, seed: int | None, chunk: int, bulk_from: int,
               **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("seed_demo uses COPY and needs PostgreSQL")
        if users < 1 or batches < 1 or payments < 0:
            raise CommandError("--users and --batches must be >= 1, --payments >= 0")
        self.rng = random.Random(seed)
        self.tag = secrets.token_hex(3)
        self.now = datetime.now(timezone.utc)
        started = time.perf_counter()
        with transaction.atomic():
            batch_rows = self._batches(batches)
            user_ids = self._users(users)
            pairs = self._enrollments(user_ids, batch_rows)
            bulk = payments >= bulk_from
            with indexes_set_aside(Payment._meta.db_table) if bulk else contextlib.nullcontext():
                self._payments(payments, pairs, chunk)
        with connection.cursor() as cursor:
            # Fresh statistics: without them the planner guesses after a bulk load and picks slow plans.
            cursor.execute("ANALYZE auth_user, apranova_profile, apranova_batch, apranova_enrollment, apranova_payment")
        self.stdout.write(self.style.SUCCESS(
            f"seeded {users} users, {batches} batches, {len(pairs)} enrollments, {payments} payments "
            f"(tag {self.tag}) in {time.perf_counter() - started:.1f} s"
        ))

    # ------------------------------------------------------------------ helpers
    def _copy(self, table: str, columns: list[str], buffer: io.StringIO) -> None:
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(buffer.getvalue())

    def _random_time(self, days_back: int = 365) -> datetime:
        return self.now - timedelta(seconds=self.rng.randrange(days_back * 86400))

    def _batches(self, count: int) -> list[tuple[int, Decimal, str]]:
        courses = [Course.objects.get_or_create(code=code, defaults={"title": title, "price": Decimal(price), "currency": cur})[0]
                   for code, title, price, cur in COURSES]
        today = date.today()
        objects = []
        for index in range(count):
            start = today + timedelta(days=self.rng.randrange(-330, 60))
            objects.append(Batch(course=courses[index % len(courses)], code=f"b-{self.tag}-{index:04d}", start_date=start,
                                 end_date=start + timedelta(weeks=self.rng.choice([8, 12, 16, 24])), capacity=self.rng.choice([30, 50, 60, 120])))
        Batch.objects.bulk_create(objects)
        return [(b.pk, b.course.price, b.course.currency) for b in objects]

    def _users(self, count: int) -> list[int]:
        buffer = io.StringIO()
        for index in range(count):
            first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
            username = f"{first.lower()}.{last.lower()}.{self.tag}.{index}"
            joined = self._random_time(540).isoformat()
            # "!" is Django's unusable password: demo users cannot log in.
            buffer.write(f"!\tf\t{username}\t{first}\t{last}\t{username}@example.com\tf\tt\t{joined}\n")
        self._copy("auth_user", ["password", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active", "date_joined"], buffer)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM auth_user WHERE username LIKE %s ORDER BY id", [f"%.{self.tag}.%"])
            ids = [row[0] for row in cursor.fetchall()]
        profiles = io.StringIO()
        for user_id in ids:
            profiles.write(f"{user_id}\t+91{self.rng.randrange(7000000000, 9999999999)}\t{self.rng.choice(COUNTRIES)}\t{self.now.isoformat()}\n")
        self._copy("apranova_profile", ["user_id", "phone", "country", "created_at"], profiles)
        return ids

    def _enrollments(self, user_ids: list[int], batch_rows: list[tuple[int, Decimal, str]]) -> list[tuple[int, tuple]]:
        buffer = io.StringIO()
        pairs = []
        statuses = ["active"] * 8 + ["completed", "cancelled"]
        for user_id in user_ids:
            for batch in self.rng.sample(batch_rows, k=min(len(batch_rows), self.rng.choice([1, 1, 1, 2]))):
                buffer.write(f"{user_id}\t{batch[0]}\t{self.rng.choice(statuses)}\t{self._random_time().isoformat()}\n")
                pairs.append((user_id, batch))
        self._copy("apranova_enrollment", ["user_id", "batch_id", "status", "enrolled_at"], buffer)
        return pairs

    def _payments(self, total: int, pairs: list[tuple[int, tuple]], chunk: int) -> None:
        columns = "user_id, batch_id, amount, currency, status, provider, provider_reference, invoice_number, created_at, paid_at"
        rng = self.rng
        statuses = [rng.choice(STATUSES) for _ in range(total)]
        # Numbers are fetched before the COPY starts: no other query may run while it is open.
        invoices = iter(self._invoice_numbers(statuses.count(Payment.Status.PAID)))
        # The per-row work is string joins only: enrollments and timestamps are formatted once, up front.
        payers = [(f"{user_id}\t{batch_id}\t", str(price), str((price / 2).quantize(Decimal("0.01"))), currency,
                   "pay" if currency == "INR" else "pi") for user_id, (batch_id, price, currency) in pairs]
        times = self._time_pool(min(total, 200_000))
        random, n_payers, n_times = rng.random, len(payers), len(times)
        with connection.cursor() as cursor:
            raw = cursor.cursor
            # The queued writer sends to the server from a thread, so PostgreSQL ingests one
            # chunk while Python formats the next: both cores work.
            with raw.copy(f"COPY apranova_payment ({columns}) FROM STDIN", writer=QueuedLibpqWriter(raw)) as copy:
                for first in range(0, total, chunk):
                    lines = []
                    for index in range(first, min(first + chunk, total)):
                        head, full, half, currency, prefix = payers[int(random() * n_payers)]
                        created, paid, year = times[int(random() * n_times)]
                        status = statuses[index]
                        invoice = f"INV-{year}-{next(invoices):08d}" if status == "paid" else r"\N"
                        paid_at = paid if status in ("paid", "refunded") else r"\N"
                        # Full fee or one of two instalments.
                        amount = full if random() < 0.6 else half
                        provider = PROVIDERS[int(random() * len(PROVIDERS))]
                        lines.append(f"{head}{amount}\t{currency}\t{status}\t{provider}\t{prefix}_{self.tag}{index:09d}\t{invoice}\t{created}\t{paid_at}\n")
                    copy.write("".join(lines))
                    self.stdout.write(f"  payments: {min(first + chunk, total)}/{total}")

    def _time_pool(self, size: int) -> list[tuple[str, str, int]]:
        """(created, paid a few minutes later, year paid in the business time zone) triples over the last year."""
        pool = []
        for _ in range(size):
            created = self._random_time()
            paid = created + timedelta(seconds=self.rng.randrange(5, 900))
            pool.append((created.isoformat(), paid.isoformat(), localtime(paid).year))
        return pool

    def _invoice_numbers(self, count: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s) FROM generate_series(1, %s)", [INVOICE_SEQUENCE, count])
            return [row[0] for row in cursor.fetchall()]
