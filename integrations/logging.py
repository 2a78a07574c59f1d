"""One structlog pipeline for the whole process, JSON in production, readable in a terminal.

Standard-library records (Temporal's `workflow.logger` and `activity.logger`, httpx,
uvicorn) are rendered by the same processors, so a workflow's step log and an activity's
log line look alike and carry the same redaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import IO, Any

import structlog

from integrations.config import LogFormat, LoggingSettings

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"secret|password|passwd|private_key|api_key|apikey|oem_?key|authkey|auth_key|token"
    r"|assertion|authorization|cookie|session_id",
    re.IGNORECASE,
)
_SECRET_IN_TEXT = re.compile(
    r"(?P<key>(?:secret|password|assertion|access_token|authKey|oemKey|api_key)[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<value>[^\s&\"',}]+)",
    re.IGNORECASE,
)
_PEM_BLOCK = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S
)


def redact_text(text: str) -> str:
    text = _PEM_BLOCK.sub(REDACTED, text)
    return _SECRET_IN_TEXT.sub(lambda match: f"{match['key']}{REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank values under secret-looking keys and secrets inside text."""
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


def _flatten_temporal_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Temporal adds `temporal_workflow` / `temporal_activity` dicts; lift their ids up."""
    for key in ("temporal_workflow", "temporal_activity"):
        context = event_dict.pop(key, None)
        if isinstance(context, dict):
            for name in ("workflow_id", "workflow_type", "run_id", "activity_type", "attempt"):
                if name in context:
                    event_dict.setdefault(name, context[name])
    return event_dict


def _bytes_as_hex(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Opaque ids (the Pub/Sub API's replay ids) as hex digits, not Python's bytes repr."""
    for key, value in event_dict.items():
        if isinstance(value, bytes):
            event_dict[key] = value.hex()
    return event_dict


def configure_logging(
    settings: LoggingSettings | None = None, stream: IO[str] | None = None
) -> None:
    """Route structlog and standard logging through one pipeline to `stream` (stderr)."""
    settings = settings or LoggingSettings()
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _flatten_temporal_context,
        _bytes_as_hex,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
