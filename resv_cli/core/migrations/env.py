"""Alembic environment: always runs on the connection resv hands it."""

from alembic import context

from resv_cli.core.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
