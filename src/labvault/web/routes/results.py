"""Results: bench worklists, batch entry, technical then biological validation, critical-value
calls and the versions of an item's result."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from labvault.web.deps import Ctx, PlatformDep
from labvault.web.workflow_schemas import (
    SECTION_PATTERN,
    CriticalCallIn,
    CriticalCallOut,
    ResultBatchIn,
    ResultOut,
    ResultVersionOut,
    Stage,
    ValidatedOut,
    ValidateIn,
    WorklistLineOut,
)
from labvault.workflow.worklist import MAX_WORKLIST

router = APIRouter(tags=["results"])


@router.get("/worklist", response_model=list[WorklistLineOut])
def worklist(
    ctx: Ctx,
    platform: PlatformDep,
    section: Annotated[
        str,
        Query(
            max_length=40, pattern=SECTION_PATTERN, description="a bench section, e.g. immunology/serology"
        ),
    ],
    stage: Stage = "entry",
    limit: Annotated[int, Query(ge=1, le=MAX_WORKLIST)] = MAX_WORKLIST,
) -> list[WorklistLineOut]:
    """Items of one bench section at one stage, urgent first then oldest first. ``entry`` lists
    received tubes only; ``biological`` is for biologists. Restricted tests only for biologists."""
    lines = platform.results.worklist(ctx, section, stage, limit=limit)
    return [WorklistLineOut.of(line) for line in lines]


@router.post("/results", response_model=list[ResultOut], status_code=status.HTTP_201_CREATED)
def enter_results(body: ResultBatchIn, ctx: Ctx, platform: PlatformDep) -> list[ResultOut]:
    """Enter a batch of results, all or nothing: a refused entry is named by its position
    (``entries[3].value``). The answer holds one new version per entry, in the order sent, then
    the calculated results (eGFR, LDL) the batch recomputed."""
    created = platform.results.enter(ctx, [entry.to_domain() for entry in body.entries])
    return [ResultOut.of(summary) for summary in created]


@router.post("/results/validate/technical", response_model=ValidatedOut)
def validate_technical(body: ValidateIn, ctx: Ctx, platform: PlatformDep) -> ValidatedOut:
    """Entered -> technically validated (the analysis ran right), all or nothing."""
    return ValidatedOut(validated=platform.results.validate_technical(ctx, body.item_ids))


@router.post("/results/validate/biological", response_model=ValidatedOut)
def validate_biological(body: ValidateIn, ctx: Ctx, platform: PlatformDep) -> ValidatedOut:
    """Technically validated -> validated, by a biologist. 409 while a critical value of the batch
    has no recorded call to the prescriber."""
    return ValidatedOut(validated=platform.results.validate_biological(ctx, body.item_ids))


@router.post(
    "/items/{item_id}/critical-call", response_model=CriticalCallOut, status_code=status.HTTP_201_CREATED
)
def critical_call(
    item_id: uuid.UUID, body: CriticalCallIn, ctx: Ctx, platform: PlatformDep
) -> CriticalCallOut:
    """Record who was told of the item's critical value, and how (now, by the caller)."""
    call_id = platform.results.record_critical_call(ctx, item_id, body.called_party, body.method, body.note)
    return CriticalCallOut(id=call_id, item_id=item_id)


@router.get("/items/{item_id}/versions", response_model=list[ResultVersionOut])
def result_versions(item_id: uuid.UUID, ctx: Ctx, platform: PlatformDep) -> list[ResultVersionOut]:
    """Every version of the item's result, oldest first, each with its correction reason."""
    return [
        ResultVersionOut.of_version(summary, reason)
        for summary, reason in platform.results.versions(ctx, item_id)
    ]
