"""What the lab's interfaces (analyzers, middlewares) sent, for the lab admin: outcomes and dead
letters, never the messages themselves (docs/INTEROP.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from labvault.interop.messages import MAX_PAGE, MessageSummary
from labvault.web.deps import Ctx, PlatformDep

router = APIRouter(prefix="/interface", tags=["interface"])


class MessageOut(BaseModel):
    id: uuid.UUID
    received_at: dt.datetime
    channel: str = Field(description="hl7v2, astm")
    sender_id: uuid.UUID
    sender: str = Field(description="the interface account's username")
    control_id: str = Field(description="MSH-10 for HL7 v2")
    message_type: str
    state: str = Field(description="accepted, or refused (a dead letter)")
    ack_code: str = Field(description="AA, AE, AR")
    error_location: str | None = Field(description="where it was refused, e.g. OBX[2]-3.1")
    error_reason: str | None = Field(description="why, never the refused value")
    results: int = Field(description="results entered")

    @classmethod
    def of(cls, message: MessageSummary) -> MessageOut:
        return cls(**vars(message))


class MessagePageOut(BaseModel):
    messages: list[MessageOut]
    next_offset: int | None = Field(description="offset of the next page; null on the last page")


@router.get("/messages", response_model=MessagePageOut)
def list_messages(
    ctx: Ctx,
    platform: PlatformDep,
    state: Annotated[
        Literal["accepted", "refused"] | None, Query(description="refused: the dead letters")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> MessagePageOut:
    """The caller's lab's received messages, newest first."""
    page = platform.interface_messages.list(ctx, state=state, limit=limit, offset=offset)
    return MessagePageOut(messages=[MessageOut.of(m) for m in page.messages], next_offset=page.next_offset)
