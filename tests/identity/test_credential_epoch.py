"""The credential epoch moves on every change a resolved token depends on, whoever writes it, and
not on the writes of every sign-in (last use, failed attempts); a token revoked behind the process's
back (a plain UPDATE, as another process or the CLI would) is refused on the next request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from labvault.errors import Unauthenticated
from labvault.identity.credential_epoch import TOKEN_COLUMNS, USER_COLUMNS, current_epoch
from labvault.identity.models import ApiToken, User
from labvault.platform import Platform
from labvault.security.access import Role
from labvault.store.base import utcnow
from tests.factories import Factory
from tests.web.support import token_for


def epoch(platform: Platform) -> int | None:
    with platform.db.transaction(None, read_only=True) as session:
        return current_epoch(session)


def write(platform: Platform, statement: Any) -> None:
    with platform.db.transaction(None, unscoped=True) as session:
        session.execute(statement)


def test_every_watched_column_moves_the_epoch_and_bookkeeping_does_not(platform: Platform) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    account = factory.user(lab, Role.BIOLOGIST)
    token = platform.accounts.issue_token(account, "epoch", dt.timedelta(hours=1))
    same = {"lab_id": User.lab_id, "physician_id": User.physician_id, "username": User.username}
    for column in USER_COLUMNS:
        before = epoch(platform)
        attribute = getattr(User, column)
        write(
            platform,
            update(User).where(User.id == account.id).values({attribute: same.get(column, attribute)}),
        )
        assert epoch(platform) == (before or 0) + 1, column
    for column in TOKEN_COLUMNS:
        before = epoch(platform)
        attribute = getattr(ApiToken, column)
        write(platform, update(ApiToken).where(ApiToken.id == token.id).values({attribute: attribute}))
        assert epoch(platform) == (before or 0) + 1, column
    before = epoch(platform)
    write(platform, update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=utcnow()))
    write(platform, update(User).where(User.id == account.id).values(failed_logins=0, totp_last_step=None))
    assert epoch(platform) == before


@pytest.mark.parametrize("change", ["revoke", "disable", "role"])
def test_a_change_behind_the_process_is_seen_on_the_next_request(platform: Platform, change: str) -> None:
    factory = Factory(platform)
    lab = factory.lab()
    account = factory.user(lab, Role.BIOLOGIST)
    token = token_for(platform, account)
    assert platform.accounts.resolve_token(token).role is Role.BIOLOGIST  # now in this process's memory
    assert platform.accounts.resolve_token(token).role is Role.BIOLOGIST
    if change == "revoke":
        write(platform, update(ApiToken).where(ApiToken.user_id == account.id).values(revoked_at=utcnow()))
    elif change == "disable":
        write(platform, update(User).where(User.id == account.id).values(active=False))
    else:
        write(platform, update(User).where(User.id == account.id).values(role=Role.RECEPTION.value))
        assert platform.accounts.resolve_token(token).role is Role.RECEPTION
        return
    with pytest.raises(Unauthenticated):
        platform.accounts.resolve_token(token)
