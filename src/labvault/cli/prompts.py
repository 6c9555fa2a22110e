"""Secrets a person types: asked for on the terminal, or read from stdin one per line, so that
scripts can pipe them in (``--password-stdin``) without putting them on the command line."""

from __future__ import annotations

import sys

import typer


def read_password(password_stdin: bool, confirm: bool, prompt: str = "Password") -> str:
    """The next stdin line with ``--password-stdin``, else asked for unechoed (twice to confirm)."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return password


def read_code(password_stdin: bool, totp_code: str | None, prompt: str = "One-time code") -> str:
    """The authenticator app's current code: ``--totp-code``, else the next stdin line (after the
    password) with ``--password-stdin``, else asked for."""
    if totp_code is not None:
        return totp_code
    if password_stdin:
        return sys.stdin.readline().strip()
    code: str = typer.prompt(prompt)
    return code
