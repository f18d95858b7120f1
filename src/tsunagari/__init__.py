"""Tsunagari: B2B demand generation — marketing automation, ABM and inside sales in one database."""

__version__ = "0.1.0"
