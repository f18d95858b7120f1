"""Seminars and events: sessions, registration, reminders, attendance, check-in and reports."""
