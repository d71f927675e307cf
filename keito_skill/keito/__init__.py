"""Client for the Keito v2 REST API (time entries, expenses, projects, tasks, users).

The hooks never import this package (a hook never touches the network); the background
sync each hook may start does, so it imports only httpx and pydantic. Everything not
re-exported below is internal.
"""

from typing import TYPE_CHECKING, Any

from keito_skill.keito._credentials import (
    DEFAULT_API_URL,
    Credentials,
    check_api_url,
    config_path,
    load_credentials,
    resolve_credentials,
    save_credentials,
)
from keito_skill.keito._errors import (
    KeitoApprovedError,
    KeitoAuthError,
    KeitoConfigError,
    KeitoConflictError,
    KeitoCredentialsError,
    KeitoError,
    KeitoForbiddenError,
    KeitoLockedError,
    KeitoNetworkError,
    KeitoNotFoundError,
    KeitoRateLimitedError,
    KeitoServerError,
    KeitoTimeoutError,
    KeitoValidationError,
    MetadataTooLargeError,
)
from keito_skill.keito._metadata import METADATA_LIMIT, fit_metadata, metadata_size

if TYPE_CHECKING:
    from keito_skill.keito._client import KeitoClient
    from keito_skill.keito._models import (
        Client,
        Expense,
        ExpenseCategory,
        ExpenseCreate,
        IdName,
        Project,
        Task,
        TimeEntry,
        TimeEntryCreate,
        TimeEntryUpdate,
        User,
    )

# The client and its models need httpx and pydantic (~0.2 s to import): loaded when first
# named, so ``status`` and ``auth status`` (credentials only) never pay for them.
_LAZY = {
    "KeitoClient": "_client",
    **dict.fromkeys(
        (
            "Client",
            "Expense",
            "ExpenseCategory",
            "ExpenseCreate",
            "IdName",
            "Project",
            "Task",
            "TimeEntry",
            "TimeEntryCreate",
            "TimeEntryUpdate",
            "User",
        ),
        "_models",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_API_URL",
    "METADATA_LIMIT",
    "Client",
    "Credentials",
    "Expense",
    "ExpenseCategory",
    "ExpenseCreate",
    "IdName",
    "KeitoApprovedError",
    "KeitoAuthError",
    "KeitoClient",
    "KeitoConfigError",
    "KeitoConflictError",
    "KeitoCredentialsError",
    "KeitoError",
    "KeitoForbiddenError",
    "KeitoLockedError",
    "KeitoNetworkError",
    "KeitoNotFoundError",
    "KeitoRateLimitedError",
    "KeitoServerError",
    "KeitoTimeoutError",
    "KeitoValidationError",
    "MetadataTooLargeError",
    "Project",
    "Task",
    "TimeEntry",
    "TimeEntryCreate",
    "TimeEntryUpdate",
    "User",
    "check_api_url",
    "config_path",
    "fit_metadata",
    "load_credentials",
    "metadata_size",
    "resolve_credentials",
    "save_credentials",
]
