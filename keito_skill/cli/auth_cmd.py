"""``keito-skill auth login|status``: Keito credentials, shared with the official CLI.

Credentials live in the Keito CLI's own ``config.toml`` so that logging in with either
tool serves both. The API key is read with a hidden prompt (never a flag, which would
land in shell history), never echoed, and never printed by ``status``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from keito_skill.keito import (
    DEFAULT_API_URL,
    KeitoAuthError,
    KeitoClient,
    KeitoError,
    KeitoForbiddenError,
    check_api_url,
    config_path,
    resolve_credentials,
    save_credentials,
)


@click.group("auth")
def auth() -> None:
    """Log in to Keito and check which credentials keito-skill will use."""


@auth.command("login")
@click.option("--account-id", default=None, help="Keito account id (prompted if omitted).")
@click.option("--api-url", default=None, help=f"Keito base URL (default {DEFAULT_API_URL}).")
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check the key against /api/v2/users/me before saving it.",
)
def login(account_id: str | None, api_url: str | None, verify: bool) -> None:
    """Store an API key and account id in the Keito CLI config (file mode 0600)."""
    # What would be used now (environment, then the config file): the defaults offered here.
    found = resolve_credentials()
    api_key = _read_api_key()
    if not api_key:
        raise click.UsageError("the API key cannot be empty")
    if not account_id:
        default = found["account_id"][0]
        if _piped():  # the line after the key, else the one saved before
            account_id = sys.stdin.readline().strip() or str(default or "")
        else:
            account_id = str(click.prompt("Keito account id", default=default)).strip()
    if not account_id:
        raise click.UsageError("the account id cannot be empty")
    # Checked where it will be used: --api-url, else KEITO_API_URL, the config, the default.
    url = check_api_url(api_url or found["api_url"][0] or DEFAULT_API_URL)
    # A URL given now (flag or environment) is saved: hooks, the background sync and the
    # watch service do not see this shell's environment, and must reach the same server.
    given = api_url or os.environ.get("KEITO_API_URL", "").strip() or None
    who = ""
    if verify:
        try:
            with KeitoClient(url, api_key, account_id, timeout=15.0, max_retries=2) as client:
                user = client.me()
        except KeitoError as exc:
            raise KeitoError(_not_saved(exc), status_code=exc.status_code) from None
        who = f" as {user.email or user.id}"
    path = save_credentials(api_key, account_id, url if given else None)
    click.echo(f"Logged in{who} (account {account_id}, {url}).")
    click.echo(f"Credentials saved to {path} (mode 0600).")
    if os.environ.get("KEITO_API_KEY"):
        click.echo("Note: KEITO_API_KEY is set in the environment and takes precedence.", err=True)


def _piped() -> bool:
    return sys.stdin is None or not sys.stdin.isatty()


def _read_api_key() -> str:
    """The key from a hidden prompt, or the first line of a pipe (``... | auth login``)
    without the terminal-echo warning a hidden prompt gives when stdin is not a terminal."""
    if _piped():
        return (sys.stdin.readline() if sys.stdin is not None else "").strip()
    return str(click.prompt("Keito API key", hide_input=True)).strip()


def _not_saved(exc: KeitoError) -> str:
    """Why ``login`` saved nothing: a refusal is final, anything else may pass on a retry."""
    if isinstance(exc, KeitoAuthError | KeitoForbiddenError):
        return f"credentials not saved: Keito rejected them ({exc})"
    return (
        f"credentials not saved: could not check them ({exc}); try again, "
        "or pass --no-verify to save them unchecked"
    )


@auth.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--verify", is_flag=True, help="Also call /api/v2/users/me with the credentials.")
def status(as_json: bool, verify: bool) -> None:
    """Show where the API key, account and URL come from (never the key itself).

    Exits 1 when credentials are incomplete (or, with --verify, rejected).
    """
    found = resolve_credentials()
    key, key_origin = found["api_key"]
    account, account_origin = found["account_id"]
    url, url_origin = found["api_url"]
    report: dict[str, Any] = {
        "configured": key is not None and account is not None,
        "api_key": {"set": key is not None, "source": key_origin},
        "account_id": {"value": account, "source": account_origin},
        "api_url": {"value": url, "source": url_origin},
        "config_file": str(config_path()),
    }
    ok = bool(report["configured"])
    if verify and key is not None and account is not None and url is not None:
        try:
            with KeitoClient(url, key, account, timeout=15.0, max_retries=2) as client:
                user = client.me()
            report["verified"] = {"ok": True, "user_id": user.id, "email": user.email}
        except KeitoError as exc:
            report["verified"] = {"ok": False, "error": str(exc)}
            ok = False
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        state = "configured" if report["configured"] else "NOT configured"
        click.echo(f"Keito credentials: {state}")
        key_text = f"set (from {key_origin})" if key is not None else "missing"
        click.echo(f"  api key:    {key_text}")
        click.echo(
            f"  account id: {account or 'missing'}"
            + (f" (from {account_origin})" if account else "")
        )
        click.echo(f"  api url:    {url} (from {url_origin})")
        click.echo(f"  config:     {report['config_file']}")
        if "verified" in report:
            v = report["verified"]
            outcome = f"yes, {v['email'] or v['user_id']}" if v["ok"] else f"NO: {v['error']}"
            click.echo(f"  verified:   {outcome}")
        if not report["configured"]:
            click.echo("Run 'keito-skill auth login' or set KEITO_API_KEY and KEITO_ACCOUNT_ID.")
    if not ok:
        sys.exit(1)
