"""When a wait ends: durations, fixed dates, Japanese business days and sending hours.

Everything is computed in the installation's time zone (settings.TIME_ZONE, Asia/Tokyo by
default), because "3 business days at 10:00" means the office's days and hours.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

import holidays
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime


class WaitError(ValueError):
    """A wait step whose settings make no sense (shown in the editor before publish)."""


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


@lru_cache(maxsize=32)
def _japan(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday and not a Japanese public holiday (振替休日 included)."""
    return day.weekday() < 5 and day not in _japan(day.year)


def add_business_days(day: dt.date, days: int) -> dt.date:
    while days > 0:
        day += dt.timedelta(days=1)
        if is_business_day(day):
            days -= 1
    return day


def within_sending_hours(moment: dt.datetime, start_hour: int, end_hour: int) -> dt.datetime:
    """The first moment at or after `moment` on a business day between the sending hours."""
    local = timezone.localtime(moment, _zone())
    for _ in range(400):
        day = local.date()
        opens = dt.datetime.combine(day, dt.time(start_hour), tzinfo=local.tzinfo)
        closes = dt.datetime.combine(
            day, dt.time(min(end_hour, 23), 59 if end_hour >= 24 else 0), tzinfo=local.tzinfo
        )
        if is_business_day(day) and local < closes:
            return max(local, opens)
        local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=local.tzinfo)
    raise WaitError("no sending hour in the next 400 days")


def wait_until(step: dict, now: dt.datetime, hours: tuple[int, int] = (9, 18)) -> dt.datetime:
    """When the step after a wait becomes due.

    mode "duration": minutes/hours/days after now; "until": a fixed date and time (already
    past: now); "business_days": N business days later at `hour` (default: the same time).
    `sending_hours: true` then moves the moment into the next business-day sending window.
    """
    mode = step.get("mode", "duration")
    if mode == "duration":
        delta = dt.timedelta(
            days=int(step.get("days", 0) or 0),
            hours=int(step.get("hours", 0) or 0),
            minutes=int(step.get("minutes", 0) or 0),
        )
        if delta < dt.timedelta(0):
            raise WaitError("a wait cannot be negative")
        due = now + delta
    elif mode == "until":
        moment = parse_datetime(str(step.get("at", "")))
        if moment is None:
            raise WaitError("a wait until a date needs a date and time")
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=_zone())
        due = max(now, moment)
    elif mode == "business_days":
        days = int(step.get("days", 0) or 0)
        if days < 0:
            raise WaitError("a wait cannot be negative")
        local = timezone.localtime(now, _zone())
        day = add_business_days(local.date(), days)
        if step.get("hour") not in (None, ""):
            at = dt.time(int(step["hour"]))
        else:
            at = local.timetz().replace(tzinfo=None)
        due = dt.datetime.combine(day, at, tzinfo=local.tzinfo)
    else:
        raise WaitError(f"unknown wait mode {mode!r}")
    if step.get("sending_hours"):
        due = within_sending_hours(due, *hours)
    return due
