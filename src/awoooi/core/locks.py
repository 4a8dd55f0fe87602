"""Transaction-scoped locks on names, so concurrent writers (and replicas) serialize."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The subquery sorts the keys; the outer scan locks them in that order, one row at a time.
_PG_LOCK_ALL = text(
    "SELECT pg_advisory_xact_lock(lock_key) FROM ("
    " SELECT DISTINCT hashtextextended(name, 0) AS lock_key"
    " FROM unnest(CAST(:names AS text[])) AS name ORDER BY lock_key"
    ") AS ordered"
)


async def lock_names(session: AsyncSession, names: Iterable[str]) -> None:
    """Hold a lock on each name until the session's transaction ends.

    PostgreSQL: one advisory transaction lock per name, all taken by one statement in the
    order of their keys, so two callers never deadlock (not even on two names whose keys
    collide). SQLite: a no-op UPDATE takes the database's single write lock, and it must come
    before the transaction's first read so no read sees a snapshot another writer changed.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        unique = sorted(set(names))
        if unique:
            await session.execute(_PG_LOCK_ALL, {"names": unique})
        return
    await session.execute(text("UPDATE write_locks SET name = name WHERE 1 = 0"))


async def try_lock_name(session: AsyncSession, name: str) -> bool:
    """Take the name's lock until the transaction ends if nobody holds it; False when busy.

    PostgreSQL: an advisory transaction lock shared by every replica. SQLite serves one process,
    whose callers serialize on the database's write lock anyway: always True.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name}
    )
    return bool(taken)
