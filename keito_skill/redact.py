"""Taking secrets out of text before it leaves the machine.

A time entry's notes are read by the agency's clients in Keito. With ``notes.mode`` set to
``last_message`` or ``first_prompt`` they carry what the agent or the user wrote, and that
is where a pasted token, a ``.env`` line or a connection string ends up. Every text we send
goes through :func:`redact` first: whatever looks like a credential is replaced by
``[redacted]`` (the label of the kind is kept where it helps: ``password=[redacted]``).

The patterns favour false positives: a note that loses a harmless hex string costs nothing;
a client reading a live key costs a lot. The default notes mode (``summary``) carries no
free text at all.
"""

from __future__ import annotations

import re

MASK = "[redacted]"

# Whole tokens whose shape says what they are.
_TOKENS = [
    # PEM private keys, whole block (or to the end of the text when cut short)
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY"
    r"( BLOCK)?-----|\Z)",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab
    r"\bsk-(?:ant-|proj-|live_|test_)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic, Stripe
    r"\b[rp]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",  # AWS access key ids
    r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
    r"\bAIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"\bnpm_[A-Za-z0-9]{36}",
    r"\bey[A-Za-z0-9_\-]{8,}\.ey[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
    r"\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9_\-\.=+/~]{12,}",  # Authorization values
]
_TOKEN = re.compile("|".join(f"(?:{p})" for p in _TOKENS))

# user:password@ in a URL or connection string: the password goes.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+(?=@)")

# key = value, key: value, "key": "value", KEY=value (env files, configs, CLI flags).
_ASSIGNED = re.compile(
    r"""(?P<key>[A-Za-z0-9_.\-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|"""
    r"""access[_\-]?key|private[_\-]?key|client[_\-]?secret|auth|credentials?|session[_\-]?key)"""
    r"""[A-Za-z0-9_\-]*)(?P<sep>["']?\s*[:=]\s*|\s+)(?P<quote>["']?)"""
    r"""(?P<value>[^\s"',;}{)]{4,})""",
    re.IGNORECASE,
)
_LONG_SECRET_AFTER_FLAG = re.compile(
    r"(?P<flag>--(?:password|token|secret|api-key|key))(?P<sep>[= ])(?P<value>\S{4,})",
    re.IGNORECASE,
)
# Words that follow "token"/"password" in prose, not values.
_PROSE = frozenset(
    {"is", "was", "and", "the", "for", "from", "with", "that", "this", "field", "value"}
)


def _assigned(match: re.Match[str]) -> str:
    value = match.group("value")
    if match.group("sep").strip() == "" and (value.lower() in _PROSE or not _secretish(value)):
        return match.group(0)  # "token expired", "password reset": prose, not a value
    return f"{match.group('key')}{match.group('sep')}{match.group('quote')}{MASK}"


def _secretish(value: str) -> bool:
    """A bare word after a key name is a secret when it looks machine-made."""
    return len(value) >= 8 and (any(c.isdigit() for c in value) or any(c in "_-+/=" for c in value))


def redact(text: str) -> str:
    """``text`` with everything that looks like a secret replaced by ``[redacted]``."""
    text = _TOKEN.sub(MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _LONG_SECRET_AFTER_FLAG.sub(lambda m: m.group("flag") + m.group("sep") + MASK, text)
    return _ASSIGNED.sub(_assigned, text)
