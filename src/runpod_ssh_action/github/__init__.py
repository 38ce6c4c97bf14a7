"""GitHub: App or token login, ephemeral runner registration, and runner lookups."""

from .auth import app_jwt, load_app_private_key
from .client import API_VERSION, DEFAULT_API_URL, GitHubClient
from .models import (
    InstallationToken,
    JitConfig,
    RegistrationToken,
    Runner,
    RunnerScope,
    WorkflowRun,
)
from .operations import ALL_OPERATIONS
from .ratelimit import GitHubRateLimitRule

__all__ = [
    "ALL_OPERATIONS",
    "API_VERSION",
    "DEFAULT_API_URL",
    "GitHubClient",
    "GitHubRateLimitRule",
    "InstallationToken",
    "JitConfig",
    "RegistrationToken",
    "Runner",
    "RunnerScope",
    "WorkflowRun",
    "app_jwt",
    "load_app_private_key",
]
