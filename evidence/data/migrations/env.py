"""Alembic environment: always run through evidence.db.migrate(), which hands over a connection."""
from alembic import context

from evidence.data.models import SQLModel

target_metadata = SQLModel.metadata
connection = context.config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
