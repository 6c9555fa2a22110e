"""Account administration: what a lab's administrator or the platform operator does to someone's
account. Individual accounts only (generic and shared names refused), created with a password that
works once; role changes and deactivation revoke the person's tokens; a lost factor is reset (by an
operator, for a lab's administrator, only after a delay the lab can use to cancel it)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labvault.errors import Conflict, Forbidden, InvalidInput, NotFound
from labvault.identity import account_events
from labvault.identity.account_action_models import ActionKind
from labvault.identity.account_actions import AccountAction, lab_has_established_admin, take_due
from labvault.identity.account_events import AccountAlert
from labvault.identity.accounts import Account, AccountsBase, account_of
from labvault.identity.credentials import find_user
from labvault.identity.models import Lab, Physician, User
from labvault.identity.user_codec import seal_full_name
from labvault.security import audit
from labvault.security.access import LAB_ACCOUNT_ROLES, LAB_ROLES, AccessContext, Role
from labvault.security.audit import AuditRecord
from labvault.security.overrides import end_overrides_of
from labvault.security.passwords import hash_password
from labvault.security.permissions import Permission
from labvault.security.policy import require, require_lab_object

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")
LAST_ESTABLISHED_ADMIN = (
    "this is the laboratory's last active administrator with a second factor: an operator may not "
    "disable them (the lab would no longer see nor stop what the platform does to its accounts); "
    "the laboratory's other administrators can"
)
FACTOR_ONLY_OWNER_HOLDS = (
    "this account's owner never replaced the password they were given: after a factor reset, whoever "
    "knows that password could enrol in their place; disable the account and create a new one"
)
# Operators hold no standing access to patient data: they may only give a new lab its first
# administrator, who then creates the lab's staff accounts.
OPERATOR_BOOTSTRAP_ONLY = (
    "a platform operator only creates a laboratory's first administrator; "
    "staff accounts are created by that administrator"
)
GENERIC_NAMES = frozenset(
    {"admin", "root", "user", "test", "guest", "labo", "accueil", "secretariat", "shared"}
)
PHYSICIAN_HAS_ACCOUNT = "this physician already has an active prescriber account"


def _check_physician(role: Role, physician_id: uuid.UUID | None) -> None:
    """A prescriber account is one physician's; no other account names one."""
    if role is Role.PRESCRIBER and physician_id is None:
        raise InvalidInput("physician_id", "a prescriber account is a physician's: name the physician")
    if role is not Role.PRESCRIBER and physician_id is not None:
        raise InvalidInput("physician_id", "only a prescriber account names a physician")


def _physician_has_account(session: Session, physician_id: uuid.UUID, but: uuid.UUID | None = None) -> bool:
    """Whether another active account already acts for this physician."""
    query = select(User.id).where(User.physician_id == physician_id, User.active.is_(True))
    if but is not None:
        query = query.where(User.id != but)
    return session.scalar(query.limit(1)) is not None


class AccountAdminService(AccountsBase):
    """Creating accounts, changing roles, (de)activating them, resetting a lost second factor."""

    def create_user(
        self,
        ctx: AccessContext,
        username: str,
        password: str,
        role: Role,
        lab_id: uuid.UUID | None,
        full_name: str | None = None,
        physician_id: uuid.UUID | None = None,
    ) -> Account:
        """An individual account. Generic/shared names are refused (the 2021 leak had them).

        A prescriber account (``role`` prescriber) acts for ``physician_id``, a physician of the
        same lab with no other active account; only that lab's admin creates one."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput(
                "username", "3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter"
            )
        if username in GENERIC_NAMES:
            raise InvalidInput("username", "generic or shared account names are not allowed")
        if role is Role.PLATFORM_OPERATOR:
            require(ctx, Permission.PLATFORM_USERS_MANAGE)
            if lab_id is not None:
                raise InvalidInput("lab", "a platform operator belongs to no laboratory")
        else:
            require(ctx, Permission.LAB_USERS_MANAGE)
            if lab_id is None:
                raise InvalidInput("lab", f"a {role.value} account needs a laboratory")
            require_lab_object(ctx, lab_id, f"laboratory {lab_id}")
            if ctx.role is Role.PLATFORM_OPERATOR and role is not Role.LAB_ADMIN:
                raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
        if role not in (*LAB_ACCOUNT_ROLES, Role.PLATFORM_OPERATOR):
            raise InvalidInput("role", "unknown role")
        _check_physician(role, physician_id)
        password_hash = hash_password(password)
        if lab_id is not None:
            # Usernames are unique across the platform: checked where every account is visible,
            # since the lab's transaction below (row-level security) sees only its own lab's.
            with self.gate.lookup() as session:
                if session.scalar(select(User.id).where(User.username == username)):
                    raise Conflict(f"username {username!r} is taken")
        # A lab's account is made in the lab's own transaction: its physician is looked up in the
        # lab's scope (one of another lab is as absent as one that does not exist), and the event
        # and its alert land on the lab's chain, where its admins see them.
        with self.gate.named_lab(ctx, lab_id) as session:
            if lab_id is not None:
                lab = session.get(Lab, lab_id)
                if lab is None or lab.shredded_at is not None:
                    raise NotFound(f"no laboratory {lab_id}")
                # Only a lab's FIRST administrator, ever: an operator that could add one after
                # disabling the real one (or finding them disabled) would own the lab.
                if ctx.role is Role.PLATFORM_OPERATOR and session.scalar(
                    select(User.id).where(User.lab_id == lab_id, User.role == Role.LAB_ADMIN).limit(1)
                ):
                    raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
            if session.scalar(select(User.id).where(User.username == username)):
                raise Conflict(f"username {username!r} is taken")
            detail: dict[str, object] = {"role": role.value}
            if physician_id is not None:
                if session.get(Physician, physician_id) is None:
                    raise NotFound(f"no physician {physician_id} in this laboratory")
                if _physician_has_account(session, physician_id):
                    raise Conflict(PHYSICIAN_HAS_ACCOUNT)
                detail["physician"] = str(physician_id)
            user = User(
                id=uuid.uuid4(),
                lab_id=lab_id,
                username=username,
                password_hash=password_hash,
                # Chosen by the creator: it works once, for the owner to set their own.
                password_temporary=True,
                role=role,
                physician_id=physician_id,
            )
            if lab_id is not None:
                keys = self.keys.keyset(session, lab_id)
                user.full_name_enc = seal_full_name(keys, user.id, full_name or None)
            session.add(user)
            try:
                session.flush()
            except IntegrityError as exc:
                # A race the checks above lost: the same username created meanwhile (or, from a
                # lab's transaction, taken in a lab it cannot see), or another account for the same
                # physician (the unique index of active ones lets one through).
                if "username" in str(exc.orig):
                    raise Conflict(f"username {username!r} is taken") from None
                raise Conflict(PHYSICIAN_HAS_ACCOUNT) from None
            event = AuditRecord("user.create", "user", str(user.id), detail)
            if lab_id is None:
                audit.append(session, ctx, event)
            else:
                account_events.record(session, ctx, lab_id, event, AccountAlert.CREATED, {"role": role.value})
            return account_of(user)

    def update_user(
        self, ctx: AccessContext, user_id: uuid.UUID, *, role: Role | None = None, active: bool | None = None
    ) -> Account:
        """Change a user's role or (de)activate them. Any change revokes every token of theirs and
        ends their open break-the-glass overrides: a demoted or disabled person keeps no session
        nor emergency access opened with the old rights."""
        if role is None and active is None:
            raise InvalidInput("body", "nothing to change: give a role, or active")
        lab_id = self._lab_of_account(ctx, user_id)
        with self.gate.named_lab(ctx, lab_id) as session:
            user = session.get(User, user_id, with_for_update=True)
            self._authorize_management(ctx, user, user_id, changes_role=role is not None)
            assert user is not None
            if (
                active
                and ctx.role is Role.PLATFORM_OPERATOR
                and Role(user.role) is not Role.PLATFORM_OPERATOR
            ):
                # Disabling a lab account is incident response; enabling one is the lab's decision.
                raise Forbidden("an operator may disable a laboratory account, not enable one")
            if user.id == ctx.actor_id:
                raise Forbidden(
                    "you cannot change your own role or deactivate yourself: ask another administrator"
                )
            if (
                active is False
                and ctx.role is Role.PLATFORM_OPERATOR
                and user.lab_id is not None
                and user.active
                and Role(user.role) is Role.LAB_ADMIN
                and lab_has_established_admin(session, user.lab_id)
                and not lab_has_established_admin(session, user.lab_id, but=user.id)
            ):
                # Otherwise the operator could silence the lab, then reset at once what waits.
                raise Conflict(LAST_ESTABLISHED_ADMIN)
            changes: dict[str, object] = {}
            if role is not None and role.value != user.role:
                if Role.PRESCRIBER in (role, Role(user.role)):
                    raise InvalidInput(
                        "role",
                        "a prescriber account stays a physician's and staff accounts never become one: "
                        "create the other account instead",
                    )
                if role not in LAB_ROLES or Role(user.role) is Role.PLATFORM_OPERATOR:
                    raise InvalidInput("role", "a laboratory account keeps a laboratory role")
                changes["role"] = role.value
            if active is not None and active != user.active:
                if (
                    active
                    and user.physician_id is not None
                    and _physician_has_account(session, user.physician_id, but=user.id)
                ):
                    raise Conflict(PHYSICIAN_HAS_ACCOUNT)
                changes["active"] = active
            if changes:
                try:
                    session.execute(
                        update(User)
                        .where(User.id == user.id)
                        .values(**changes)
                        .execution_options(synchronize_session=False)
                    )
                except IntegrityError:  # another account of the physician enabled meanwhile
                    raise Conflict(PHYSICIAN_HAS_ACCOUNT) from None
                revoked = self._revoke_all(session, user.id)
                detail = {**changes, "tokens_revoked": revoked}
                event = AuditRecord("user.update", "user", str(user.id), detail)
                if user.lab_id is None:
                    audit.append(session, ctx, event)
                else:
                    # Emergency accesses opened under the old rights end with them.
                    ended = end_overrides_of(session, user.id, user.lab_id, self.clock())
                    detail |= {"overrides_ended": ended} if ended else {}
                    alert = (
                        AccountAlert.REENABLED
                        if changes.get("active") is True
                        else AccountAlert.ROLE_CHANGED
                        if "role" in changes
                        else None
                    )
                    account_events.record(session, ctx, user.lab_id, event, alert, changes)
                session.refresh(user)
            return account_of(user)

    def reset_mfa(self, ctx: AccessContext, user_id: uuid.UUID) -> AccountAction | None:
        """Forget a user's TOTP secret (lost phone) and revoke their tokens: they enrol again with
        their own password (never one someone else set: the resetter cannot enrol in their place).
        Lab admins reset their staff; operators only operators and lab admins, and a lab admin's
        only after a delay the lab can use to cancel it, once the lab has an established admin:
        then the pending request is returned and nothing is reset yet (None: done)."""
        lab_id = self._lab_of_account(ctx, user_id)
        with self.gate.named_lab(ctx, lab_id) as session:
            user = session.get(User, user_id, with_for_update=True)
            self._authorize_management(ctx, user, user_id, changes_role=False, resets_mfa=True)
            assert user is not None
            if user.password_temporary and user.mfa_enabled_at is not None:
                # An account from before 0012: its factor is the one thing only its owner holds.
                raise Conflict(FACTOR_ONLY_OWNER_HOLDS)
            if (
                user.lab_id is not None
                and ctx.role is Role.PLATFORM_OPERATOR
                and lab_has_established_admin(session, user.lab_id)
            ):
                pending = take_due(
                    session, ctx, user, ActionKind.MFA_RESET, self.clock(), self.policy.platform_action_delay
                )
                if pending is not None:
                    return pending
            session.execute(
                update(User)
                .where(User.id == user.id)
                .values(totp_secret_sealed=None, mfa_enabled_at=None, totp_last_step=None)
                .execution_options(synchronize_session=False)
            )
            revoked = self._revoke_all(session, user.id)
            event = AuditRecord("auth.mfa_reset", "user", str(user.id), {"tokens_revoked": revoked})
            if user.lab_id is None:
                audit.append(session, ctx, event)
            else:
                account_events.record(session, ctx, user.lab_id, event, AccountAlert.FACTOR_RESET)
            return None

    def _lab_of_account(self, ctx: AccessContext, user_id: uuid.UUID) -> uuid.UUID | None:
        """The lab whose transaction manages this account (None: an operator's account). Another
        lab's account is as absent as one that does not exist."""
        with self.gate.lookup() as session:
            found = session.execute(select(User.lab_id).where(User.id == user_id)).first()
        if found is None:
            raise NotFound(f"no user {user_id}")
        lab_id: uuid.UUID | None = found.lab_id
        require_lab_object(ctx, lab_id, f"user {user_id}")
        return lab_id

    @staticmethod
    def _authorize_management(
        ctx: AccessContext,
        user: User | None,
        user_id: uuid.UUID,
        *,
        changes_role: bool,
        resets_mfa: bool = False,
    ) -> None:
        """Lab admins manage their own lab's accounts; operators manage operators, and for lab
        accounts may only disable them (incident response) or reset a lab admin's MFA (recovery):
        never take over a lab's staff."""
        if user is None:
            raise NotFound(f"no user {user_id}")
        if Role(user.role) is Role.PLATFORM_OPERATOR:
            if ctx.role is not Role.PLATFORM_OPERATOR:
                raise NotFound(f"no user {user_id}")
            require(ctx, Permission.PLATFORM_USERS_MANAGE)
            if changes_role:
                raise InvalidInput("role", "a platform operator keeps the platform operator role")
            return
        require(ctx, Permission.LAB_USERS_MANAGE)
        if ctx.role is Role.PLATFORM_OPERATOR:
            if changes_role or (resets_mfa and Role(user.role) is not Role.LAB_ADMIN):
                raise Forbidden(OPERATOR_BOOTSTRAP_ONLY)
        elif ctx.lab_id != user.lab_id:
            raise NotFound(f"no user {user_id}")

    def by_username(self, username: str) -> Account:
        """The account a command names by its username (`labvault user ...` acts on usernames)."""
        with self.gate.lookup() as session:
            user = find_user(session, username)
            if user is None:
                raise NotFound(f"no user {username!r}")
            return account_of(user)
