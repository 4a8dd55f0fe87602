"""Structured logging: JSON off a terminal, console on one, secrets always redacted."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from awoooi.core.redact import redact, redact_structure

REDACTED = "[REDACTED]"  # a value hidden because of its key; text secrets get a typed placeholder


def redact_text(text: str) -> str:
    """The text with every embedded secret replaced by a typed ``[REDACTED:<kind>]`` placeholder.

    The one implementation lives in `awoooi.core.redact`; this name stays for the log pipeline,
    job errors and notifications.
    """
    return redact(text)


def redact_value(key: str, value: Any) -> Any:
    """A log value made safe by `redact_structure`, hiding secret keys' values as ``[REDACTED]``."""
    # The one walker and key rule live in `awoooi.core.redact`; logs keep the bare placeholder
    # their readers were promised.
    return redact_structure(value, key, mask=REDACTED)


def _redact_processor(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    return {key: redact_value(key, value) for key, value in event_dict.items()}


def _use_json(log_format: str) -> bool:
    if log_format == "json":
        return True
    if log_format == "console":
        return False
    return not sys.stderr.isatty()


def configure_logging(*, log_format: str = "auto", level: str = "info") -> None:
    """Send structlog and stdlib logging (uvicorn, alembic) through one redacting pipeline."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if _use_json(log_format)
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared[:-2],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared[:-2],
        processors=[
            structlog.processors.format_exc_info,
            _redact_processor,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; send its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs every request
    # httpx logs each request's URL at INFO, and a Bot API URL carries the bot's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic logs each of its plugins at INFO when first imported, which the CLI now does
    # after configuring logging (commands load lazily): noise that was never shown before.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Alembic's migration context says "Context impl SQLiteImpl." and "Will assume
    # non-transactional DDL." at INFO on every connection it migrates, which every CLI command
    # does: noise on stderr. Its warnings still pass; core.migrate logs what actually changed.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger for a module."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


def bind_context(**values: Any) -> None:
    """Attach values (such as the request id) to every log line of this task."""
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    """Forget the values bound for this task."""
    structlog.contextvars.clear_contextvars()
