"""Log lines on stderr: one JSON object per line (or plain text for a terminal), each with
the request id, and no credentials of URLs."""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from kpi_service.core.context import request_id

# `scheme://user:password@host`: the password is replaced, whoever logs such a URL.
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):[^@\s]*@")
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Record attributes that are not fields: uvicorn's terminal-coloured copy of the message too.
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message", "taskName"]


def redact(message: str) -> str:
    """The message with the password of any URL in it masked."""
    return _CREDENTIALS.sub(r"\g<head>:***@", message) if "://" in message else message


class ContextFilter(logging.Filter):
    """Stamps each record with the request id and masks passwords in its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _Json(JsonFormatter):
    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = None  # the key comes first; the library fills it in last
        super().add_fields(log_data, record, message_dict)


def json_formatter() -> logging.Formatter:
    """time (UTC), level, logger, message, request_id, then `extra` fields and exc_info."""
    return _Json(
        "{levelname}{name}{message}{request_id}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        reserved_attrs=_NOT_FIELDS,
        json_ensure_ascii=False,
    )


class TextFormatter(logging.Formatter):
    """A line for people: time, level, logger, [request id], message."""

    def __init__(self) -> None:
        super().__init__(_TEXT, defaults={"request_id": "-"})

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def config(log_format: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the root logger and uvicorn's loggers alike."""
    level = level.upper()
    return {
        "version": 1,
        # Loggers made at import time (every module's) must keep working.
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": json_formatter}, "text": {"()": TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        # uvicorn's loggers hand their records to the root handler; its access log is off
        # (the app writes one line per request with the route and the request id).
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(log_format: str, level: str) -> None:
    """Route every log record of the process through one formatter."""
    logging.config.dictConfig(config(log_format, level))
