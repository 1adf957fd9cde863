"""An inbox's business hours: a weekly schedule in the inbox's time zone."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

from accounts.errors import ServiceError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def business_hours_clean(hours: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Validate {"mon": [["09:00", "17:00"], ...], ...}; an empty schedule means always open."""
    if not isinstance(hours, dict):
        raise ServiceError('Business hours are a map such as {"mon": [["09:00", "17:00"]]}.', field="business_hours")
    clean: dict[str, list[list[str]]] = {}
    for day, ranges in hours.items():
        if day not in DAYS:
            raise ServiceError(f"Unknown day {day!r}; use {', '.join(DAYS)}.", field="business_hours")
        if not isinstance(ranges, list):
            raise ServiceError(f"{day}: give a list of [open, close] pairs.", field="business_hours")
        clean[day] = []
        for pair in ranges:
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ServiceError(f'{day}: each range is ["HH:MM", "HH:MM"].', field="business_hours")
            start, end = pair
            if not (_HHMM.match(start) and _HHMM.match(end)) or start >= end:
                raise ServiceError(f"{day}: {start}-{end} is not a range like 09:00-17:00.", field="business_hours")
            clean[day].append([start, end])
    return clean


def is_open(hours: dict[str, list[list[str]]], tz_name: str, at: datetime) -> bool:
    """Whether `at` falls inside the schedule (an empty schedule is always open)."""
    if not hours:
        return True
    local = at.astimezone(zoneinfo.ZoneInfo(tz_name))
    now = local.time()
    for start, end in hours.get(DAYS[local.weekday()], []):
        close = time(23, 59, 59, 999999) if end == "24:00" else time.fromisoformat(end)
        if time.fromisoformat(start) <= now <= close:
            return True
    return False


def open_seconds(hours: dict[str, list[list[str]]], tz_name: str, start: datetime, end: datetime) -> float:
    """Seconds between `start` and `end` that fall inside the schedule (an empty schedule is always open): how
    long a customer waited in the team's working time."""
    if end <= start:
        return 0.0
    if not hours:
        return (end - start).total_seconds()
    zone = zoneinfo.ZoneInfo(tz_name)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        for opens, closes in hours.get(DAYS[day.weekday()], []):
            o_h, o_m = map(int, opens.split(":"))
            c_h, c_m = map(int, closes.split(":"))
            window_start = datetime(day.year, day.month, day.day, o_h, o_m, tzinfo=zone)
            window_end = (
                datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)
                if (c_h, c_m) == (24, 0)
                else datetime(day.year, day.month, day.day, c_h, c_m, tzinfo=zone)
            )
            overlap = min(window_end, local_end) - max(window_start, local_start)
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total
