"""Logging filters: access-log lines never carry a query string (an older webhook setup may still put its
secret in `?secret=`; search terms are a customer's words)."""

from __future__ import annotations

import logging


class RedactQueryString(logging.Filter):
    """uvicorn's access record is (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?[redacted]", *args[3:])
        return True
