"""Behaviour and fit rules, the score ledger, grades, MQL criteria, hand-off and back-testing."""
