"""Pipelines, their stages and lost reasons: what an admin edits, and the default funnel.

Stages are never deleted: a removed stage keeps its row (``removed_at``) so the stage
history of deals still names it; its deals are moved where the admin says first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from core.db import db, utcnow
from core.users.services import ValidationFailed
from plugins.sales import events
from plugins.sales.models import STAGE_KINDS, Deal, LostReason, Pipeline, Stage

# The window company of the issue: (name, win probability %, target hours in stage, kind).
DEFAULT_PIPELINE = "Sales"
DEFAULT_STAGES = (
    ("First call", 10, 1, "open"),
    ("Measurements", 30, 72, "open"),
    ("Approval", 50, 48, "open"),
    ("Payment", 80, 120, "open"),
    ("Installation", 95, 240, "open"),
    ("Won", 100, None, "won"),
    ("Lost", 0, None, "lost"),
)
DEFAULT_LOST_REASONS = (
    "Too expensive",
    "Chose a competitor",
    "No answer",
    "Postponed the purchase",
    "Not our service",
)


def ensure_default_pipeline() -> Pipeline | None:
    """Create the default pipeline and lost reasons unless a pipeline exists; idempotent,
    and safe when two workers race (the unique name lets one of them win)."""
    if db.session.execute(sa.select(Pipeline.id).limit(1)).first() is not None:
        return None
    try:
        pipeline = Pipeline(name=DEFAULT_PIPELINE, position=0)
        db.session.add(pipeline)
        db.session.flush()
        for position, (name, probability, hours, kind) in enumerate(DEFAULT_STAGES):
            db.session.add(
                Stage(
                    pipeline_id=pipeline.id,
                    name=name,
                    position=position,
                    probability=probability,
                    target_hours=hours,
                    kind=kind,
                )
            )
        if db.session.execute(sa.select(LostReason.id).limit(1)).first() is None:
            for position, name in enumerate(DEFAULT_LOST_REASONS):
                db.session.add(LostReason(name=name, position=position))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return pipeline


def pipelines(active_only: bool = False) -> list[Pipeline]:
    query = sa.select(Pipeline).order_by(Pipeline.position, Pipeline.id)
    if active_only:
        query = query.where(Pipeline.active.is_(True))
    found = list(db.session.execute(query).scalars())
    if not found and ensure_default_pipeline() is not None:
        return pipelines(active_only)
    return found


def live_stages(pipeline_id: int) -> list[Stage]:
    return list(
        db.session.execute(
            sa.select(Stage)
            .where(Stage.pipeline_id == pipeline_id, Stage.removed_at.is_(None))
            .order_by(Stage.position, Stage.id)
        ).scalars()
    )


def lost_reasons(active_only: bool = True) -> list[LostReason]:
    query = sa.select(LostReason).order_by(LostReason.position, LostReason.id)
    if active_only:
        query = query.where(LostReason.active.is_(True))
    return list(db.session.execute(query).scalars())


# --- checking input ---------------------------------------------------------------------


def _name(data: dict[str, Any], errors: dict, limit: int) -> str:
    name = data.get("name")
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif len(name) > limit:
        errors["name"] = [_("At most %(n)s characters.", n=limit)]
    return name


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and low <= value <= high else None


def _stage_values(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    if "name" in data or creating:
        out["name"] = _name(data, errors, 120)
    if "probability" in data or creating:
        value = _int(data.get("probability", 0), 0, 100)
        if value is None:
            errors["probability"] = [_("Enter a whole percent from 0 to 100.")]
        out["probability"] = value
    if "target_hours" in data:
        raw = data["target_hours"]
        if raw in (None, ""):
            out["target_hours"] = None
        else:
            value = _int(raw, 1, 24 * 366)
            if value is None:
                errors["target_hours"] = [_("Enter whole hours from 1 to 8784, or nothing.")]
            out["target_hours"] = value
    if "kind" in data or creating:
        kind = data.get("kind", "open")
        if kind not in STAGE_KINDS:
            errors["kind"] = [_("Choose one of: %(c)s.", c=", ".join(STAGE_KINDS))]
        out["kind"] = kind
    if errors:
        raise ValidationFailed(errors)
    return out


# --- pipelines and stages ----------------------------------------------------------------


def create_pipeline(data: dict[str, Any]) -> Pipeline:
    """A pipeline with ``data["stages"]`` (dicts of name, probability, target_hours, kind)."""
    errors: dict[str, list[str]] = {}
    name = _name(data, errors, 200)
    if name and db.session.execute(sa.select(Pipeline.id).where(Pipeline.name == name)).first():
        errors["name"] = [_("A pipeline with this name exists.")]
    stages = data.get("stages") or []
    checked = []
    for index, stage in enumerate(stages):
        try:
            checked.append(_stage_values(stage, creating=True))
        except ValidationFailed as exc:
            for field, messages in exc.errors.items():
                errors[f"stages.{index}.{field}"] = messages
    if errors:
        raise ValidationFailed(errors)
    position = db.session.execute(sa.select(sa.func.max(Pipeline.position))).scalar() or 0
    pipeline = Pipeline(name=name, position=position + 1, active=True)
    db.session.add(pipeline)
    db.session.flush()
    if not checked:
        checked = [
            {"name": n, "probability": p, "target_hours": h, "kind": k}
            for n, p, h, k in (
                (_("New"), 10, None, "open"),
                (_("Won"), 100, None, "won"),
                (_("Lost"), 0, None, "lost"),
            )
        ]
    for position, values in enumerate(checked):
        db.session.add(Stage(pipeline_id=pipeline.id, position=position, **values))
    db.session.commit()
    return pipeline


def update_pipeline(pipeline: Pipeline, data: dict[str, Any]) -> Pipeline:
    errors: dict[str, list[str]] = {}
    if "name" in data:
        name = _name(data, errors, 200)
        taken = db.session.execute(
            sa.select(Pipeline.id).where(Pipeline.name == name, Pipeline.id != pipeline.id)
        ).first()
        if name and taken:
            errors["name"] = [_("A pipeline with this name exists.")]
        pipeline.name = name
    if "active" in data:
        pipeline.active = bool(data["active"])
    if errors:
        raise ValidationFailed(errors)
    db.session.commit()
    return pipeline


def add_stage(pipeline: Pipeline, data: dict[str, Any]) -> Stage:
    values = _stage_values(data, creating=True)
    stages = live_stages(pipeline.id)
    # A new open stage goes before the closing (won/lost) stages; a closing one at the end.
    position = len(stages)
    if values["kind"] == "open":
        closing = [s.position for s in stages if s.kind != "open"]
        if closing:
            position = min(closing)
            for stage in stages:
                if stage.position >= position:
                    stage.position += 1
    stage = Stage(pipeline_id=pipeline.id, position=position, **values)
    db.session.add(stage)
    db.session.commit()
    return stage


def update_stage(stage: Stage, data: dict[str, Any]) -> Stage:
    values = _stage_values(data, creating=False)
    if "kind" in values and values["kind"] != stage.kind and _has_deals(stage.id):
        raise ValidationFailed(
            {"kind": [_("Move this stage's deals elsewhere before changing its kind.")]}
        )
    for key, value in values.items():
        setattr(stage, key, value)
    db.session.commit()
    return stage


def reorder_stages(pipeline: Pipeline, stage_ids: list[int]) -> None:
    """Put the live stages of ``pipeline`` in the order of ``stage_ids`` (every one once)."""
    stages = {s.id: s for s in live_stages(pipeline.id)}
    if sorted(stage_ids) != sorted(stages):
        raise ValidationFailed({"stage_ids": [_("List every stage of the pipeline once.")]})
    for position, stage_id in enumerate(stage_ids):
        stages[stage_id].position = position
    db.session.commit()


def move_stage(stage: Stage, step: int) -> None:
    """Swap ``stage`` with its neighbour (``step`` -1: earlier, +1: later)."""
    ids = [s.id for s in live_stages(stage.pipeline_id)]
    index = ids.index(stage.id)
    other = index + step
    if 0 <= other < len(ids):
        ids[index], ids[other] = ids[other], ids[index]
        reorder_stages(stage.pipeline, ids)


def _has_deals(stage_id: int) -> bool:
    return db.session.execute(sa.select(Deal.id).where(Deal.stage_id == stage_id).limit(1)).first()


def deal_count(stage_id: int) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Deal).where(Deal.stage_id == stage_id)
    ).scalar_one()


def remove_stage(
    stage: Stage,
    actor: Any,
    move_to_id: int | None = None,
    lost_reason_id: int | None = None,
) -> int:
    """Remove ``stage`` (its row stays for history); its deals first go to ``move_to_id``,
    each move recorded as a stage change. Returns how many deals were moved."""
    from plugins.sales.deals.services import enter_stage, lost_reason_or_error

    if stage.removed_at is not None:
        raise ValidationFailed({"stage": [_("This stage is removed already.")]})
    live = live_stages(stage.pipeline_id)
    if len(live) <= 1:
        raise ValidationFailed({"stage": [_("A pipeline keeps at least one stage.")]})
    deals = list(db.session.execute(sa.select(Deal).where(Deal.stage_id == stage.id)).scalars())
    target = None
    if deals:
        target = next((s for s in live if s.id == move_to_id and s.id != stage.id), None)
        if target is None:
            raise ValidationFailed(
                {"move_to": [_("Choose another stage of this pipeline for its deals.")]}
            )
        reason = None
        if target.kind == "lost":
            reason = lost_reason_or_error(lost_reason_id)
    changes = []
    for deal in deals:
        changes.append(enter_stage(deal, target, actor, reason, ""))
    stage.removed_at = utcnow()
    db.session.commit()
    for deal, change in zip(deals, changes, strict=True):
        events.stage_entered(deal, change, actor)
    return len(deals)


# --- lost reasons ------------------------------------------------------------------------


def save_lost_reason(reason: LostReason | None, data: dict[str, Any]) -> LostReason:
    errors: dict[str, list[str]] = {}
    name = _name(data, errors, 200)
    query = sa.select(LostReason.id).where(LostReason.name == name)
    if reason is not None:
        query = query.where(LostReason.id != reason.id)
    if name and db.session.execute(query).first():
        errors["name"] = [_("This reason exists.")]
    if errors:
        raise ValidationFailed(errors)
    if reason is None:
        position = db.session.execute(sa.select(sa.func.max(LostReason.position))).scalar()
        reason = LostReason(name=name, position=(position or 0) + 1)
        db.session.add(reason)
    reason.name = name
    if "active" in data:
        reason.active = bool(data["active"])
    db.session.commit()
    return reason


def history_stage_names(stage_ids: set[int]) -> dict[int, str]:
    """Names of stages, removed ones included (the history shows what a deal went through)."""
    if not stage_ids:
        return {}
    return dict(
        db.session.execute(sa.select(Stage.id, Stage.name).where(Stage.id.in_(stage_ids))).all()
    )
