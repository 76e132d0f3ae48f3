"""Test-wide settings. Hypothesis profiles: ``default`` (CI) and ``thorough``
(``HYPOTHESIS_PROFILE=thorough bash scripts/test.sh``). The config fuzzer
(``tests/test_config_fuzz.py``) runs 300 examples per test by default and 20,000 under
``thorough``."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", max_examples=150, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
