"""Journeys: scenario graphs, enrolments, the step engine and nurture streams."""
