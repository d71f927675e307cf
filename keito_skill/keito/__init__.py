"""Client for the Keito v2 REST API (time entries, expenses, projects, tasks, users).

Only httpx and pydantic are imported here: the hook path imports this package and must
stay fast. Everything not re-exported below is internal.
"""

from keito_skill.keito._client import KeitoClient
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
