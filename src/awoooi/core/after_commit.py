"""Work that may only happen once a transaction committed, such as counting what it wrote."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_PENDING = "awoooi.after_commit"


def after_commit(session: AsyncSession | Session, action: Callable[[], None]) -> None:
    """Run `action` once the session's outermost transaction commits; drop it if it does not."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_PENDING, []).append(action)


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    # A released savepoint also "commits"; only the outermost commit makes the work real.
    if session.in_nested_transaction():
        return
    for action in session.info.pop(_PENDING, []):
        action()


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    # Runs after _run_pending on a commit (nothing left then); after a rollback or a close
    # without commit, the work never happened and must not be counted.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
