"""The matrix's world, shared by every file of the package as it was by the one module it came from
(built once per engine and xdist worker, not once per file)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labvault.platform import Platform
from tests.web.isolation.support import World, build_world
from tests.web.support import TwoLabs


@pytest.fixture(scope="package")
def two_labs(platform: Platform) -> Iterator[TwoLabs]:
    """The shared two-lab world (tests/conftest.py), once for the package, with the login limit
    raised: the matrix signs in once per caller (the limit itself: tests/web/test_lockout_api.py)."""
    with TwoLabs.open(platform, login_rate_limit=100_000) as labs:
        yield labs


@pytest.fixture(scope="package")
def world(two_labs: TwoLabs) -> World:
    return build_world(two_labs)
