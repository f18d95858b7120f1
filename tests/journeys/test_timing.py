"""Waits: durations, fixed dates, Japanese business days (`holidays`), sending hours."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from tsunagari.journeys import timing

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TOKYO)


def test_japanese_holidays_are_not_business_days():
    assert not timing.is_business_day(dt.date(2026, 11, 3))  # 文化の日
    assert not timing.is_business_day(dt.date(2026, 11, 23))  # 勤労感謝の日
    assert not timing.is_business_day(dt.date(2026, 11, 28))  # Saturday
    assert timing.is_business_day(dt.date(2026, 11, 24))


def test_three_business_days_skip_the_weekend_and_a_holiday():
    # Friday 20 Nov 2026 + 3 business days: Mon 23 is 勤労感謝の日 → Tue 24, Wed 25, Thu 26.
    due = timing.wait_until({"mode": "business_days", "days": 3, "hour": 10}, at(2026, 11, 20, 15))
    assert due == at(2026, 11, 26, 10)


def test_golden_week_is_skipped():
    due = timing.wait_until({"mode": "business_days", "days": 1}, at(2026, 5, 1, 9, 30))
    assert due == at(2026, 5, 7, 9, 30)  # 3–6 May are holidays (5/6 振替休日)


def test_sending_hours_move_a_night_time_due_to_the_next_business_morning():
    due = timing.wait_until(
        {"mode": "duration", "hours": 2, "sending_hours": True}, at(2026, 11, 20, 17, 30)
    )
    assert due == at(2026, 11, 24, 9)  # Fri 19:30 → Sat, Sun, holiday Mon → Tue 09:00
    inside = timing.wait_until(
        {"mode": "duration", "hours": 1, "sending_hours": True}, at(2026, 11, 24, 10)
    )
    assert inside == at(2026, 11, 24, 11)


def test_until_a_date_and_bad_waits():
    now = at(2026, 11, 20, 12)
    assert timing.wait_until({"mode": "until", "at": "2026-12-01T10:00"}, now) == at(
        2026, 12, 1, 10
    )
    assert timing.wait_until({"mode": "until", "at": "2026-01-01T10:00"}, now) == now  # past: now
    with pytest.raises(timing.WaitError):
        timing.wait_until({"mode": "until", "at": "someday"}, now)
    with pytest.raises(timing.WaitError):
        timing.wait_until({"mode": "duration", "days": -1}, now)
