"""Stage rules: saving them (validated), and running them exactly once per entry.

A deal entering a stage (``events.on_stage_entered``) enqueues the job
``sales.run_stage_rules``; the job claims each (rule, entry) by inserting a
``RuleRun`` row, whose UNIQUE(rule_id, stage_change_id) lets one worker only win, then
runs the rule's action and records "done" or "failed" with the error. An invoice paid in
full (``invoices.events.on_invoice_paid``) runs the rules with trigger "invoice_paid" of
the stage the deal stands in, claimed the same way against the deal's current entry.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from core.db import db, utcnow
from core.users.services import ValidationFailed
from plugins.sales.automation import actions
from plugins.sales.automation.models import TRIGGERS, RuleRun, StageRule
from plugins.sales.models import Deal, Stage, StageChange

log = logging.getLogger(__name__)
JOB = "sales.run_stage_rules"
PAID_JOB = "sales.invoice_paid_rules"


# --- rules ---------------------------------------------------------------------------------


def stage_rules(stage_id: int, trigger: str | None = None) -> list[StageRule]:
    query = sa.select(StageRule).where(StageRule.stage_id == stage_id)
    if trigger:
        query = query.where(StageRule.trigger == trigger)
    return list(db.session.execute(query.order_by(StageRule.position, StageRule.id)).scalars())


def live_stage(stage_id: Any) -> Stage | None:
    stage = db.session.get(Stage, actions._int(stage_id)) if actions._int(stage_id) else None
    return stage if stage is not None and stage.removed_at is None else None


def save_rule(stage: Stage, data: dict[str, Any], rule: StageRule | None = None) -> StageRule:
    """Create (``rule`` None) or change a rule of ``stage``; ValidationFailed changes
    nothing. ``data``: action, params, trigger, position, active, version."""
    if rule is not None and "version" in data and data["version"] != rule.version:
        raise ValidationFailed(
            {"version": [_("Someone changed this rule meanwhile; reload it.")]}, status=409
        )
    errors: dict[str, list[str]] = {}
    kind = data.get("action", rule.action if rule else None)
    params = data.get("params", rule.params if rule else {})
    trigger = data.get("trigger", rule.trigger if rule else "enter") or "enter"
    if trigger not in TRIGGERS:
        errors["trigger"] = [_("Choose one of: %(c)s.", c=", ".join(TRIGGERS))]
    cleaned: dict = {}
    try:
        cleaned = actions.check(kind, params)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if kind == "move" and "stage_id" in cleaned:
        target = db.session.get(Stage, cleaned["stage_id"])
        if target.pipeline_id != stage.pipeline_id or target.id == stage.id:
            errors["params.stage_id"] = [_("Choose another stage of this pipeline.")]
    position = data.get("position", rule.position if rule else None)
    if position is None:
        position = (
            db.session.execute(
                sa.select(sa.func.max(StageRule.position)).where(StageRule.stage_id == stage.id)
            ).scalar()
            or 0
        ) + 1
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < 10_000:
        errors["position"] = [_("Enter a whole number from 0 to 9999.")]
    active = data.get("active", rule.active if rule else True)
    if not isinstance(active, bool):
        errors["active"] = [_("Give true or false.")]
    if errors:
        db.session.rollback()
        raise ValidationFailed(errors)
    target_rule = rule or StageRule(stage_id=stage.id)
    target_rule.action = kind
    target_rule.params = cleaned
    target_rule.trigger = trigger
    target_rule.position = position
    target_rule.active = active
    if rule is None:
        db.session.add(target_rule)
    db.session.commit()
    return target_rule


def delete_rule(rule: StageRule) -> None:
    db.session.delete(rule)
    db.session.commit()


def describe(rule: StageRule) -> str:
    """A line for the admin: what the rule does."""
    action = actions.get(rule.action)
    label = str(action.label) if action else rule.action
    details = ", ".join(f"{k}={v}" for k, v in sorted((rule.params or {}).items()) if v)
    return f"{label} ({details})" if details else label


# --- running -------------------------------------------------------------------------------


def _claim(rule_id: int, change_id: int) -> RuleRun | None:
    run = RuleRun(rule_id=rule_id, stage_change_id=change_id, status="running", error="")
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # this rule ran (or runs) for this entry already
        return None
    return run


def run_rules(stage_change_id: int, trigger: str = "enter") -> dict[str, int]:
    """Run the active ``trigger`` rules of the stage entered by ``stage_change_id`` that
    have not run for it yet. Returns how many this call ran and how many failed."""
    out = {"done": 0, "failed": 0}
    change = db.session.get(StageChange, stage_change_id)
    if change is None:
        return out
    rules = [r for r in stage_rules(change.to_stage_id, trigger) if r.active]
    for rule in rules:
        rule_id = rule.id
        run = _claim(rule_id, change.id)
        if run is None:
            continue
        deal = db.session.get(Deal, change.deal_id)
        action = actions.get(rule.action)
        try:
            if deal is None:
                raise LookupError("the deal is gone")
            if action is None:
                raise LookupError(f"no action {rule.action!r} (its plugin is off?)")
            action.run(deal, change, {**(rule.params or {}), "_rule_id": rule_id})
        except Exception as exc:  # noqa: BLE001 - recorded on the run, shown to the admin
            db.session.rollback()
            log.warning(
                "sales: rule %s failed for stage entry %s", rule_id, change.id, exc_info=True
            )
            message = (
                "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items())
                if isinstance(exc, ValidationFailed)
                else str(exc) or exc.__class__.__name__
            )
            db.session.execute(
                sa.update(RuleRun)
                .where(RuleRun.id == run.id)
                .values(status="failed", error=message[:2000], at=utcnow())
            )
            db.session.commit()
            out["failed"] += 1
            continue
        db.session.execute(
            sa.update(RuleRun).where(RuleRun.id == run.id).values(status="done", at=utcnow())
        )
        db.session.commit()
        out["done"] += 1
    return out


def run_paid_rules(deal_id: int) -> dict[str, int]:
    """The "invoice_paid" rules of the stage ``deal_id`` stands in, once per entry."""
    change_id = db.session.execute(
        sa.select(sa.func.max(StageChange.id))
        .join(Deal, Deal.id == StageChange.deal_id)
        .where(StageChange.deal_id == deal_id, StageChange.to_stage_id == Deal.stage_id)
    ).scalar()
    if change_id is None:
        return {"done": 0, "failed": 0}
    return run_rules(change_id, "invoice_paid")


def runs(stage_change_ids: list[int]) -> list[RuleRun]:
    if not stage_change_ids:
        return []
    return list(
        db.session.execute(
            sa.select(RuleRun)
            .where(RuleRun.stage_change_id.in_(stage_change_ids))
            .order_by(RuleRun.id)
        ).scalars()
    )


# --- reactions ------------------------------------------------------------------------------


def _enqueue(name: str, **kwargs: Any) -> None:
    from core.jobs import enqueue

    enqueue(name, **kwargs)


def on_stage_entered(deal: Any, change: Any, actor: Any) -> None:
    """Listener: queue the entered stage's rules (only when it has any)."""
    has_rules = db.session.execute(
        sa.select(StageRule.id)
        .where(
            StageRule.stage_id == change.to_stage_id,
            StageRule.trigger == "enter",
            StageRule.active.is_(True),
        )
        .limit(1)
    ).scalar()
    if has_rules is not None:
        _enqueue(JOB, stage_change_id=change.id)


def on_invoice_paid(invoice: Any, actor: Any) -> None:
    _enqueue(PAID_JOB, deal_id=invoice.deal_id)
