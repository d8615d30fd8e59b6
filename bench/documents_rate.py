"""Measure invoice PDFs per second and e-mails per second to a local SMTP server.

    python bench/documents_rate.py --invoices 200 --mails 500

Makes a fresh SQLite CRM with the sales plugin enabled, one client with a Cyrillic name,
a contact person and a deal of three lines (a discount, two VAT rates), then issues
``--invoices`` invoices for it through the sales plugin as a user would (the default
Russian invoice template, the PDF with embedded DejaVu fonts, a number per year, stored
in the database); then hands ``--mails`` messages with that PDF attached to an SMTP
server on loopback (aiosmtpd, as the tests use) through ``core.mail.send_mail``, one
connection per message as the delivery jobs do. Prints both rates and writes them to
bench/results/<name>.json; the temporary CRM is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--mails", type=int, default=500)
    parser.add_argument("--name", default="documents")
    parser.add_argument(
        "--profile", metavar="FILE", help="write cProfile stats of the invoice loop to FILE"
    )
    args = parser.parse_args()

    import sqlalchemy as sa

    from core import create_app
    from core.cli import ensure_admin_role, upgrade_core
    from core.clients import services as clients
    from core.db import db
    from core.mail import Attachment, send_mail
    from core.plugin_system import services as plugin_services
    from core.users import services as user_services
    from core.users.models import Role
    from tests.smtp_sink import SmtpSink

    folder = Path(tempfile.mkdtemp(prefix="crm-documents-bench-"))
    app = create_app(
        {
            "INSTANCE_PATH": str(folder / "instance"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'crm.sqlite3'}",
            "SECRET_KEY": "bench",
            "CRM_JOBS_IMMEDIATE": True,
            "CRM_PASSWORD_HASH_COST": "low",
        }
    )
    results: dict[str, float | int | str] = {"load_average_before": os.getloadavg()[0]}
    with app.test_request_context():
        upgrade_core(app)
        plugin_services.sync_discovered(app)
        ensure_admin_role()
        plugin_services.enable("sales", app)
        from plugins.sales.invoices import services as invoices
        from plugins.sales.models import Deal, DealLine, Pipeline

        admin = db.session.execute(sa.select(Role).filter_by(is_admin=True)).scalar_one()
        user = user_services.create_user(
            "bench@example.com", "Bench", "bench-password-1", roles=[admin], locale="ru"
        )
        client = clients.create_client(
            {
                "name": "ООО «Ромашка»",
                "tax_id": "7707083893",
                "addresses": [{"kind": "legal", "city": "Москва", "street": "ул. Ленина, 1"}],
            }
        )
        db.session.commit()
        pipeline = db.session.execute(sa.select(Pipeline)).scalars().first()
        deal = Deal(
            title="Остекление офиса",
            client_id=client.id,
            pipeline_id=pipeline.id,
            stage_id=pipeline.stages[0].id,
            owner_id=user.id,
            amount=Decimal("0"),
            currency="RUB",
        )
        deal.lines = [
            DealLine(
                name="Окно ПВХ 1200×1400",
                quantity=Decimal("3"),
                price=Decimal("250"),
                discount_percent=Decimal("10"),
                vat_rate=Decimal("20"),
                position=0,
            ),
            DealLine(
                name="Монтаж",
                quantity=Decimal("3"),
                price=Decimal("45"),
                vat_rate=Decimal("0"),
                position=1,
            ),
            DealLine(
                name="Подоконник",
                quantity=Decimal("3"),
                price=Decimal("30.50"),
                vat_rate=Decimal("20"),
                position=2,
            ),
        ]
        db.session.add(deal)
        db.session.commit()
        invoices.issue_invoice(deal, actor=user)  # warm-up: fonts, templates, caches
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.invoices):
            invoice = invoices.issue_invoice(deal, actor=user)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        results["invoices"] = args.invoices
        results["invoice_seconds"] = round(seconds, 2)
        results["invoices_per_s"] = round(args.invoices / seconds, 1)
        results["invoice_cpu_s"] = round(cpu, 2)
        results["invoice_cpu_ms"] = round(cpu * 1000 / args.invoices, 1)
        from core.documents.models import Document

        pdf = db.session.get(Document, invoice.document_id).content
        results["pdf_kib"] = round(len(pdf) / 1024, 1)

        sink = SmtpSink()
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_SSL=False)
        app.config.update(SMTP_STARTTLS=False, SMTP_USERNAME=None)
        try:
            attachment = Attachment("invoice.pdf", pdf, "application/pdf")
            started = time.perf_counter()
            for n in range(args.mails):
                send_mail(f"client{n}@example.test", "Счёт", "Здравствуйте!", [attachment])
            seconds = time.perf_counter() - started
            deadline = time.monotonic() + 30
            while len(sink.messages) < args.mails and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(sink.messages) == args.mails, len(sink.messages)
        finally:
            sink.stop()
        results["mails"] = args.mails
        results["mail_seconds"] = round(seconds, 2)
        results["mails_per_s"] = round(args.mails / seconds, 1)
    results["load_average_after"] = os.getloadavg()[0]
    with app.app_context():
        db.engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)  # ~19 MiB of SQLite and instance files a run
    from suite import results_dir

    out = results_dir() / f"{args.name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
