"""Integration fixtures: plain, wide command-line output, and the store's shared fixtures."""

from __future__ import annotations

import pytest

from server_fixtures import server_url
from store_fixtures import added, s3_environment, s3_server

# Fixtures shared with other test folders, imported so pytest sees them here.
__all__ = ["added", "s3_environment", "s3_server", "server_url"]


@pytest.fixture(autouse=True)
def _plain_wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich output without colour codes and wide enough that table cells do not fold."""
    for name in ("FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
