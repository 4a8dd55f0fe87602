"""Alembic environment: runs on the connection awoooi passes in, or on AWOOOI_DATABASE_URL."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy import Connection

from awoooi.core.db import UTCDateTime, create_engine, is_sqlite
from awoooi.core.migrate import include_name
from awoooi.models import metadata
from awoooi.settings import load_settings

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our column types as plain SQLAlchemy ones, so migrations never import awoooi."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, sa.JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=is_sqlite(str(connection.engine.url)),
        compare_type=True,
        render_item=_render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_settings() -> None:
    engine = create_engine(load_settings().resolved_database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    """Use the caller's connection when given (awoooi.core.migrate), else connect ourselves."""
    connection = config.attributes.get("connection")
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run `awoooi db upgrade`")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_from_settings())


main()
