"""Fixtures of the workflow tests."""

from __future__ import annotations

import pytest

from labvault.platform import Platform
from tests.factories import Bench


@pytest.fixture(scope="module")
def other(platform: Platform) -> Bench:
    """Another lab with its own staff, for the tests that another lab gets nothing of a module's
    ``bench`` lab; one per module, like the module's own bench."""
    return Bench.create(platform, "Autre laboratoire")
