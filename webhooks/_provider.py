"""The git hosts whose push webhooks this package verifies and parses."""

from __future__ import annotations

from enum import StrEnum

from ._errors import UnknownProvider

__all__ = ["Provider"]


class Provider(StrEnum):
    """A webhook sender; the value is the name used in URLs and configuration."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    FORGEJO = "forgejo"
    BITBUCKET_CLOUD = "bitbucket-cloud"
    BITBUCKET_DC = "bitbucket-dc"
    AZURE_DEVOPS = "azure-devops"
    GENERIC_HMAC = "generic-hmac"
    GENERIC_BEARER = "generic-bearer"

    @classmethod
    def parse(cls, name: Provider | str) -> Provider:
        """The provider called ``name`` (case-insensitive); ``UnknownProvider`` otherwise."""
        if isinstance(name, Provider):
            return name
        if isinstance(name, str):
            try:
                return cls(name.strip().lower())
            except ValueError:
                pass
        # The name comes from a URL path: show a bounded, printable form of it.
        shown = ascii(name)[:60]
        raise UnknownProvider(f"unknown webhook provider {shown}")

    @property
    def disables_hooks_on_4xx(self) -> bool:
        """Whether the host may disable a hook that is answered with a 4xx (GitLab)."""
        return self is Provider.GITLAB
