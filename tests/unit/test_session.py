"""The stream driver's malloc settings: applied by glibc's mallopt, a user's own values kept."""

from __future__ import annotations

import sys

import pytest

from crosssell_spark.session import MALLOC_SETTINGS, retain_freed_memory

OFF_GLIBC = "mallopt is glibc's: off Linux retain_freed_memory applies nothing, by design"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason=OFF_GLIBC)
def test_retain_freed_memory_applies_what_the_environment_does_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MALLOC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert retain_freed_memory() == {name: value for name, (_, value) in MALLOC_SETTINGS.items()}
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345678")  # the user's own, applied by glibc at start
    assert set(retain_freed_memory()) == set(MALLOC_SETTINGS) - {"MALLOC_TRIM_THRESHOLD_"}
