from __future__ import annotations

from collections.abc import Iterator

import pytest

from labvault.platform import Platform
from tests.web.fhir.support import World, world


@pytest.fixture(scope="module")
def fhir_world(platform: Platform) -> Iterator[World]:
    with world(platform) as built:
        yield built
