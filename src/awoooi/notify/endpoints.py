"""`POST /api/v1/notify/telegram/webhook`: Telegram delivers button presses here."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from awoooi.api.deps import RequestId, RuntimeDep, SessionDep
from awoooi.api.routing import AuthBeforeBodyRoute
from awoooi.core.errors import AuthError, InvalidInputError, NotFoundError
from awoooi.notify.telegram_updates import answer, handle_update

router = APIRouter(prefix="/api/v1/notify", tags=["notify"], route_class=AuthBeforeBodyRoute)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@router.post("/telegram/webhook")
async def telegram_webhook(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    request_id: RequestId,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> dict[str, Any]:
    """Accept an update only with the configured secret; a press runs its action once."""
    telegram = runtime.settings.notify.telegram
    if telegram.webhook_secret is None or telegram.bot_token is None:
        raise NotFoundError("the Telegram channel is not configured")
    expected = telegram.webhook_secret.get_secret_value().encode()
    # Constant time: the comparison must not tell an attacker how much of a guess was right.
    if secret is None or not hmac.compare_digest(secret.encode(), expected):
        raise AuthError(f"missing or wrong {SECRET_HEADER} header")
    try:
        update = json.loads(await request.body())
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvalidInputError("the body is not JSON") from exc
    if not isinstance(update, dict):
        raise InvalidInputError("a Telegram update is a JSON object")
    result, callback = await handle_update(
        session,
        update,
        approvers=list(telegram.approvers),
        registry=runtime.actions,
        request_id=request_id,
    )
    # The decision is committed before Telegram hears about it: a failed answer loses nothing.
    await session.commit()
    if result is not None and callback is not None:
        await answer(runtime.telegram(), result, callback)
    return {"ok": True}
