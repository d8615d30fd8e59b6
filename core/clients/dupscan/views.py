"""The duplicate review page: start a scan, watch its progress, compare, merge or dismiss pairs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.clients import services as client_services
from core.clients.dupscan import services
from core.clients.dupscan.scan import MAX_GROUP
from core.clients.views import DUPLICATE_REASONS
from core.security import current_actor, requires
from core.users.services import ValidationFailed

bp = Blueprint("client_duplicates", __name__, url_prefix="/clients/duplicates")

PAGE_SIZE = 50
STAGE_LABELS = {
    "": "",
    "exact": _l("Comparing tax ids, e-mails and phones"),
    "names": _l("Reading names"),
    "saving": _l("Saving the pairs"),
}
STATUS_LABELS = {
    "queued": _l("Waiting for a worker"),
    "running": _l("Running"),
    "done": _l("Finished"),
    "failed": _l("Failed"),
}


@bp.route("/")
@requires("clients.merge")
def review():
    user = current_actor()
    cursor = request.args.get("cursor") or None
    error = None
    try:
        pairs, next_cursor = services.page(user, PAGE_SIZE, cursor)
    except services.BadCursor as exc:
        error = str(exc)
        pairs, next_cursor = services.page(user, PAGE_SIZE)
    scan = services.latest_scan()
    return render_template(
        "clients/duplicates.html",
        pairs=pairs,
        cursor=cursor,
        next_cursor=next_cursor,
        error=error,
        scan=scan,
        skipped=services.skipped_for(scan, user) if scan else [],
        reasons=DUPLICATE_REASONS,
        stages=STAGE_LABELS,
        statuses=STATUS_LABELS,
        max_group=MAX_GROUP,
        client_statuses={o.code: o.label for o in client_services.options("status")},
    ), (422 if error else 200)


@bp.route("/scans", methods=["POST"])
@requires("clients.merge")
def start_scan():
    try:
        scan = services.start(current_actor())
    except services.ScanRunning:
        flash(_("A scan is running already; its progress is shown below."), "warning")
        return redirect(url_for(".review"))
    if scan.status == "failed":
        flash(_("The scan failed: %(message)s", message=scan.message), "error")
    elif scan.status == "done":
        flash(_("The scan is finished."), "success")
    else:
        flash(_("The scan has started; this page shows its progress."), "success")
    return redirect(url_for(".review"))


@bp.route("/scans/<int:scan_id>/progress")
@requires("clients.merge")
def scan_progress(scan_id: int):
    """The progress bar's data for the page's script (the API takes tokens, not cookies)."""
    scan = services.get_scan(scan_id) or abort(404)
    done, total = scan.progress_done, scan.progress_total
    return jsonify(
        {
            "id": scan.id,
            "status": scan.status,
            "status_label": str(STATUS_LABELS[scan.status]),
            "stage_label": str(STAGE_LABELS.get(scan.stage, "")),
            # The line under the bar, as the page writes it (progress.js puts it there).
            "summary": _("%(done)s of %(total)s clients read", done=done, total=total)
            + (f" · {STAGE_LABELS[scan.stage]}" if scan.stage in STAGE_LABELS else ""),
            "done": done,
            "total": total,
        }
    )


@bp.route("/<int:pair_id>/dismiss", methods=["POST"])
@requires("clients.merge")
def dismiss(pair_id: int):
    pair = services.get_pair(pair_id, current_actor()) or abort(404)
    try:
        services.dismiss(pair, current_actor())
        flash(
            _(
                "%(a)s and %(b)s are marked as different clients.",
                a=pair.client_a.name,
                b=pair.client_b.name,
            ),
            "success",
        )
    except ValidationFailed:
        flash(_("This pair was decided already."), "warning")
    cursor = request.form.get("cursor", "")[:500]
    return redirect(url_for(".review", cursor=cursor) if cursor else url_for(".review"))
