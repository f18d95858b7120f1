"""Segment test fixtures; `--hypothesis-profile=segments-dev` skips shrinking when debugging."""

from __future__ import annotations

from hypothesis import Phase, settings

settings.register_profile(
    "segments-dev", phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=True
)
