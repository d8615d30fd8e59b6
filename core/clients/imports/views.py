"""Web pages for importing clients: upload, map the columns and preview, follow the run, the
report."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.clients.imports import mapping, reader, report, services
from core.clients.imports.models import ON_DUPLICATE, ClientImport, ClientImportIssue
from core.db import db
from core.security import current_actor, requires
from core.users.models import User
from core.users.services import ValidationFailed

bp = Blueprint("client_imports", __name__, url_prefix="/clients/imports")

ISSUES_SHOWN = 100


def _visible(import_id: int) -> ClientImport:
    return services.visible_import(import_id, current_actor()) or abort(404)


@bp.route("/", methods=["GET", "POST"])
@requires("clients.import")
def index():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors = {"file": [_("Choose a CSV or XLSX file.")]}
        else:
            try:
                job = services.upload_file(
                    upload,
                    current_actor(),
                    request.form.get("encoding") or None,
                    request.form.get("delimiter") or None,
                )
                return redirect(url_for(".show", import_id=job.id))
            except ValidationFailed as exc:
                db.session.rollback()
                errors = exc.errors
    user = current_actor()
    query = sa.select(ClientImport).order_by(ClientImport.id.desc()).limit(20)
    if not user.is_admin:
        query = query.where(ClientImport.created_by_id == user.id)
    return (
        render_template(
            "clients/imports/index.html",
            imports=db.session.execute(query).scalars().all(),
            encodings=reader.ENCODINGS,
            errors=errors,
            limit_mb=services.max_bytes() // 1048576,
        ),
        422 if errors else 200,
    )


def _settings_from_form(job: ClientImport) -> dict:
    owner = request.form.get("default_owner_id", "").strip()
    is_id = owner.isascii() and owner.isdigit() and len(owner) < 18
    return {
        "mapping": [request.form.get(f"column-{i}") or None for i in range(len(job.header))],
        "on_duplicate": request.form.get("on_duplicate", "skip"),
        # Anything but a user id is passed on as it came, for configure to refuse.
        "default_owner_id": int(owner) if is_id else owner or None,
        "dry_run": request.form.get("dry_run") == "yes",
    }


@bp.route("/<int:import_id>", methods=["GET", "POST"])
@requires("clients.import")
def show(import_id: int):
    job = _visible(import_id)
    errors: dict[str, list[str]] = {}
    preview = None
    if request.method == "POST" and _can_start(job):
        settings = _settings_from_form(job)
        action = request.form.get("action")
        try:
            if action not in ("preview", "start"):
                raise ValidationFailed(
                    {"action": [_("Choose to preview the first rows or to start the import.")]}
                )
            if action == "preview":
                preview = services.preview(job, settings, current_actor())
                job.mapping = settings["mapping"]
                job.on_duplicate = settings["on_duplicate"]
                job.default_owner_id = settings["default_owner_id"]
            else:
                services.start(job, settings)
                flash(_("The import has started."), "success")
                return redirect(url_for(".show", import_id=job.id))
        except ValidationFailed as exc:
            db.session.rollback()
            errors = exc.errors
            job = _visible(import_id)
            job.mapping = settings["mapping"] if isinstance(settings["mapping"], list) else []
    issues = []
    if job.status in ("done", "failed"):
        issues = (
            db.session.execute(
                sa.select(ClientImportIssue)
                .where(ClientImportIssue.import_id == job.id)
                .order_by(ClientImportIssue.id)
                .limit(ISSUES_SHOWN)
            )
            .scalars()
            .all()
        )
    users = (
        db.session.execute(sa.select(User).where(User.active.is_(True)).order_by(User.name))
        .scalars()
        .all()
    )
    html = render_template(
        "clients/imports/show.html",
        job=job,
        can_start=_can_start(job),
        stalled=services.stalled(job),
        sample=services.sample(job) if _can_start(job) else [],
        targets=mapping.targets(),
        policies=ON_DUPLICATE,
        users=users,
        earlier=services.earlier_runs(job),
        preview=preview,
        issues=issues,
        issues_shown=ISSUES_SHOWN,
        errors=errors,
    )
    db.session.rollback()  # a preview's choices are shown, not saved
    return html, 422 if errors else 200


def _can_start(job: ClientImport) -> bool:
    return services.can_start(job)


@bp.route("/<int:import_id>/progress")
@requires("clients.import")
def progress(import_id: int):
    """The figures the progress bar shows, for the page's script to poll."""
    job = _visible(import_id)
    figures = ("processed", "created_count", "updated_count", "skipped_count", "failed_count")
    return jsonify(
        {
            "status": job.status,
            "done": job.processed,
            "total": max(job.total_rows, job.processed),
            **{name: getattr(job, name) for name in figures},
        }
    )


@bp.route("/<int:import_id>/resume", methods=["POST"])
@requires("clients.import")
def resume(import_id: int):
    job = _visible(import_id)
    try:
        services.resume(job)
        flash(_("The import goes on from line %(line)s.", line=job.processed + 2), "success")
    except ValidationFailed as exc:
        db.session.rollback()
        flash(" ".join(m for messages in exc.errors.values() for m in messages), "error")
    return redirect(url_for(".show", import_id=import_id))


@bp.route("/<int:import_id>/report.<any(csv, xlsx):fmt>")
@requires("clients.import")
def report_file(import_id: int, fmt: str):
    return report.response(_visible(import_id), fmt)
