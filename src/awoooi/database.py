"""The database alone: engine, sessions and migration, for what needs no other subsystem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from awoooi.core.db import create_engine, create_session_factory
from awoooi.core.private_files import warn_if_shared

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from awoooi.settings import Settings


@dataclass(frozen=True)
class Database:
    """An engine and its session factory, made from the settings as every process makes them."""

    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Create the engine (warning when the home is readable by others) and its sessions."""
        warn_if_shared(settings.home)
        engine = create_engine(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            write_wait=settings.db_write_wait,
        )
        return cls(engine=engine, session_factory=create_session_factory(engine))

    async def migrate(self) -> None:
        """Apply pending migrations; on PostgreSQL one replica at a time (advisory lock)."""
        # Alembic (a tenth of a second) is imported by the commands that open a database only.
        from awoooi.core.migrate import upgrade_exclusively

        await upgrade_exclusively(self.engine)

    async def dispose(self) -> None:
        """Close the engine's connections."""
        await self.engine.dispose()
