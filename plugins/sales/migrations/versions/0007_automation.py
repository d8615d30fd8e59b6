"""sales automation: stage rules and their runs, stage time limit notices, web lead forms
and their submissions

Revision ID: 0007_automation
Revises: 0006_invoices
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_automation"
down_revision = "0006_invoices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_lead_forms",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner_role", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("allowed_origins", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("success_message", sa.Text(), nullable=False),
        sa.Column("redirect_url", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sales_lead_forms_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_sales_lead_forms_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["sales_pipelines.id"],
            name=op.f("fk_sales_lead_forms_pipeline_id_sales_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_lead_forms")),
        sa.UniqueConstraint("key", name=op.f("uq_sales_lead_forms_key")),
    )
    op.create_table(
        "sales_stage_rules",
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sales_stage_rules_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["sales_stages.id"],
            name=op.f("fk_sales_stage_rules_stage_id_sales_stages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_stage_rules")),
    )
    with op.batch_alter_table("sales_stage_rules", schema=None) as batch_op:
        batch_op.create_index("ix_sales_stage_rules_stage", ["stage_id", "position"], unique=False)

    op.create_table(
        "sales_lead_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["sales_deals.id"],
            name=op.f("fk_sales_lead_submissions_deal_id_sales_deals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["sales_lead_forms.id"],
            name=op.f("fk_sales_lead_submissions_form_id_sales_lead_forms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_lead_submissions")),
    )
    with op.batch_alter_table("sales_lead_submissions", schema=None) as batch_op:
        batch_op.create_index("ix_sales_lead_submissions_form", ["form_id", "at"], unique=False)
        batch_op.create_index("ix_sales_lead_submissions_ip", ["ip_hash", "at"], unique=False)

    op.create_table(
        "sales_rule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("stage_change_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["sales_stage_rules.id"],
            name=op.f("fk_sales_rule_runs_rule_id_sales_stage_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_change_id"],
            ["sales_stage_changes.id"],
            name=op.f("fk_sales_rule_runs_stage_change_id_sales_stage_changes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_rule_runs")),
        sa.UniqueConstraint("rule_id", "stage_change_id", name="uq_sales_rule_runs_rule_change"),
    )
    with op.batch_alter_table("sales_rule_runs", schema=None) as batch_op:
        batch_op.create_index("ix_sales_rule_runs_change", ["stage_change_id"], unique=False)

    op.create_table(
        "sales_stage_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_change_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_change_id"],
            ["sales_stage_changes.id"],
            name=op.f("fk_sales_stage_alerts_stage_change_id_sales_stage_changes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_stage_alerts")),
        sa.UniqueConstraint("stage_change_id", "kind", name="uq_sales_stage_alerts_change_kind"),
    )


def downgrade() -> None:
    op.drop_table("sales_stage_alerts")
    with op.batch_alter_table("sales_rule_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_rule_runs_change")

    op.drop_table("sales_rule_runs")
    with op.batch_alter_table("sales_lead_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_lead_submissions_ip")
        batch_op.drop_index("ix_sales_lead_submissions_form")

    op.drop_table("sales_lead_submissions")
    with op.batch_alter_table("sales_stage_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_stage_rules_stage")

    op.drop_table("sales_stage_rules")
    op.drop_table("sales_lead_forms")
