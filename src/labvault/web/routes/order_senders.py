"""Which of the lab's interface accounts may send orders (HL7 OML^O21, ORM^O01): the lab admin's
decision, one account at a time (interop/order_intake.py). An interface not marked is refused at
its next order message (AR); marking it also lets it create pending identities."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from labvault.web.deps import Ctx, PlatformDep

router = APIRouter(prefix="/interface/order-senders", tags=["interface"])
Username = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class OrderSenderOut(BaseModel):
    account: str
    order_sender: bool
    changed: bool


@router.put("/{username}", response_model=OrderSenderOut)
def mark_order_sender(username: Username, ctx: Ctx, platform: PlatformDep) -> OrderSenderOut:
    changed = platform.order_intake.mark_sender(ctx, username, sends=True)
    return OrderSenderOut(account=username, order_sender=True, changed=changed)


@router.delete("/{username}", response_model=OrderSenderOut)
def unmark_order_sender(username: Username, ctx: Ctx, platform: PlatformDep) -> OrderSenderOut:
    changed = platform.order_intake.mark_sender(ctx, username, sends=False)
    return OrderSenderOut(account=username, order_sender=False, changed=changed)
