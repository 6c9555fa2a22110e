"""Bounds for every integer the API reads, in a path, a query or a JSON body.

An unbounded ``int`` reaches the database as whatever the client sent: 2^63 overflows SQLite's
driver (``OverflowError``) and 2^31 PostgreSQL's INTEGER (``NumericValueOutOfRange``), both a 500.
A bound is checked by pydantic before the route runs (422 naming the parameter) and published in the
OpenAPI document; ``tests/web/test_integer_bounds.py`` requires one on every integer a route reads.
``Int32`` is the default for an integer stored in an INTEGER column; narrower limits (page sizes,
minutes, hours) are declared where they are used.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1  # PostgreSQL INTEGER, the type of versions and revisions
SAFE_INT_MAX: Final = 2**53  # the largest integer every JSON client reads exactly; BIGINT columns

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
# A version or revision number: 1, 2, ... stored in an INTEGER column.
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]
