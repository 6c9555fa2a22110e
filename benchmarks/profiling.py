"""cProfile of the two measured paths, to say what dominates their cost (``--profile``).

Profiling inflates pure-Python costs, so use the shares, not the absolute times.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from typing import Any

from benchmarks.common import (
    BATCH,
    Progress,
    bench_platform,
    generate_patients,
    log,
)

PRELOAD = 20_000
REGISTER_BATCHES = 10
LOOKUPS = 1_000
TOP = 25


def _profile(action: Callable[[], Any]) -> tuple[pstats.Stats, str]:
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(TOP)
    stats.sort_stats("cumulative").print_stats(TOP)
    return stats, stream.getvalue()


def _top(stats: pstats.Stats, count: int = TOP) -> list[dict[str, Any]]:
    """Functions by own time, with their share of the profiled total."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [
        {
            "function": f"{path.rsplit('site-packages/', 1)[-1]}:{line}({name})",
            "calls": entry[1],
            "tottime_s": entry[2],
            "cumtime_s": entry[3],
            "share_of_total": entry[2] / total,
        }
        for (path, line, name), entry in rows
    ]


def run(backend: str, pg_admin_url: str, progress: Progress = log) -> dict[str, Any]:
    people = generate_patients(PRELOAD + REGISTER_BATCHES * BATCH, 20_240_603, progress)
    preload, extra = people[:PRELOAD], people[PRELOAD:]
    with bench_platform(backend, pg_admin_url) as env:
        service, ctx = env.platform.patients, env.ctx
        for start in range(0, PRELOAD, BATCH):
            service.register_many(ctx, preload[start : start + BATCH])
        progress(f"profile: preloaded {PRELOAD:,} patients")

        def register() -> None:
            for start in range(0, len(extra), BATCH):
                service.register_many(ctx, extra[start : start + BATCH])

        def lookup() -> None:
            for data in preload[:LOOKUPS]:
                service.find_by_nir(ctx, data.nir or "")

        reg_stats, reg_text = _profile(register)
        look_stats, look_text = _profile(lookup)
    return {
        "backend": backend,
        "register_many": {"batches": REGISTER_BATCHES, "top": _top(reg_stats), "text": reg_text},
        "find_by_nir": {
            "lookups": LOOKUPS,
            "preloaded": PRELOAD,
            "top": _top(look_stats),
            "text": look_text,
        },
    }
