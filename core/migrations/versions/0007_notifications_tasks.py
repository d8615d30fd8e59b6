"""notifications, notification preferences, tasks, task templates, task user settings

Revision ID: 0007_notifications_tasks
Revises: 0006_trash_index
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op


revision = "0007_notifications_tasks"
down_revision = "0006_trash_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=80), nullable=False),
    sa.Column('channel', sa.String(length=80), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'event', 'channel', name=op.f('pk_notification_preferences'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=80), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('record_kind', sa.String(length=80), nullable=True),
    sa.Column('record_id', sa.BigInteger(), nullable=True),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('in_app', sa.Boolean(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('user_id', 'key', name='uq_notifications_user_key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_unread', ['user_id', 'id'], unique=False, sqlite_where=sa.text('read_at IS NULL AND in_app'), postgresql_where=sa.text('read_at IS NULL AND in_app'))
        batch_op.create_index('ix_notifications_user', ['user_id', 'id'], unique=False)

    op.create_table('task_templates',
    sa.Column('code', sa.String(length=80), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('due_amount', sa.Integer(), nullable=False),
    sa.Column('due_unit', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_task_templates_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_templates')),
    sa.UniqueConstraint('code', name=op.f('uq_task_templates_code'))
    )
    op.create_table('task_user_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('remind_before_minutes', sa.Integer(), nullable=False),
    sa.Column('ical_token', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_task_user_settings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_task_user_settings')),
    sa.UniqueConstraint('ical_token', name=op.f('uq_task_user_settings_ical_token'))
    )
    op.create_table('tasks',
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('record_kind', sa.String(length=80), nullable=True),
    sa.Column('record_id', sa.BigInteger(), nullable=True),
    sa.Column('remind_before_minutes', sa.Integer(), nullable=True),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('overdue_notified_at', sa.DateTime(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(), nullable=True),
    sa.Column('origin', sa.String(length=80), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_tasks_assignee_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_tasks_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_active_due', ['due_at'], unique=False, sqlite_where=sa.text("status IN ('open', 'in_progress')"), postgresql_where=sa.text("status IN ('open', 'in_progress')"))
        batch_op.create_index('ix_tasks_assignee_due', ['assignee_id', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_tasks_creator_due', ['created_by_id', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_tasks_record', ['record_kind', 'record_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_record')
        batch_op.drop_index('ix_tasks_creator_due')
        batch_op.drop_index('ix_tasks_assignee_due')
        batch_op.drop_index('ix_tasks_active_due', sqlite_where=sa.text("status IN ('open', 'in_progress')"), postgresql_where=sa.text("status IN ('open', 'in_progress')"))

    op.drop_table('tasks')
    op.drop_table('task_user_settings')
    op.drop_table('task_templates')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user')
        batch_op.drop_index('ix_notifications_unread', sqlite_where=sa.text('read_at IS NULL AND in_app'), postgresql_where=sa.text('read_at IS NULL AND in_app'))

    op.drop_table('notifications')
    op.drop_table('notification_preferences')
