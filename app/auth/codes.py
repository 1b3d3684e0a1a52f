"""One-time codes (a password reset's, a clinic invitation's activation): which accounts they may change.

A code proves an address, so it activates an invited account; it never brings back a deactivated or deleted one
(docs/rules/users.md, "Account states")."""

from __future__ import annotations

from app.web.errors import AppError, Refusal, state_conflict

CODE_STATES = frozenset({"invited", "active"})
# What `code_refused` answers, declared by the routes that take a code.
CODE_REFUSALS = (
    Refusal(409, "the code matched, but the account is deactivated (its state in `extra`)"),
    Refusal(410, "the code matched, but the account has been deleted"),
)


def code_refused(state: str | None) -> AppError:
    """A code that matched, for an account no code may change."""
    if state in (None, "deleted"):
        return AppError(410, "The account no longer exists")
    return state_conflict(state, "This account is deactivated: only an administrator can re-activate it")
