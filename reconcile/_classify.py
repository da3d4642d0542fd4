"""What time will fix, and what needs a human: the one place errors are classified.

Network errors come from libgit2 as text; push rejections come from the server as
text. Both are matched here against the messages git hosts and libgit2 actually
send, and get a code, whether retrying can help, and a hint for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Classification", "classify_network_error", "classify_rejection"]


@dataclass(frozen=True)
class Classification:
    """A code for the problem, whether time may fix it, and what a human should do."""

    code: str
    transient: bool
    hint: str = ""


# Checked in order; the first pattern found in the lower-cased message wins.
_NETWORK: list[tuple[tuple[str, ...], Classification]] = [
    (("cancelled", "canceled"), Classification("cancelled", False, "the operation was cancelled")),
    (
        ("user rejected certificate", "hostkey", "host key", "certificate"),
        Classification(
            "host-key", False, "verify the server's host key and record it in known_hosts"
        ),
    ),
    (
        ("too many requests", "status code: 429", "rate limit", "ratelimit"),
        Classification("rate-limited", True),
    ),
    (
        (
            "authentication",
            "status code: 401",
            "unauthorized",
            "permission denied",
            "credential",
            "status code: 403",
            "forbidden",
        ),
        Classification(
            "auth",
            False,
            "check the credentials: the key or token is wrong, expired, or not allowed "
            "on this repository",
        ),
    ),
    (
        (
            "status code: 404",
            "repository not found",
            "not a git repository",
            "does not appear to be a git repository",
            "no repository at",
            "not found",
            "does not exist",
        ),
        Classification("not-found", False, "check the remote URL: the repository does not exist"),
    ),
    (
        ("unsupported url protocol", "invalid url", "malformed url", "unsupported protocol"),
        Classification("bad-url", False, "fix the remote URL"),
    ),
    (
        ("timed out", "timeout"),
        Classification("timeout", True),
    ),
    (
        (
            "failed to resolve",
            "name or service not known",
            "temporary failure in name resolution",
            "could not resolve",
            "nodename nor servname",
        ),
        Classification("dns", True),
    ),
    (
        (
            "status code: 500",
            "status code: 502",
            "status code: 503",
            "status code: 504",
            "internal server error",
            "bad gateway",
            "service unavailable",
            "gateway timeout",
        ),
        Classification("server-error", True),
    ),
    (
        (
            "connection refused",
            "connection reset",
            "broken pipe",
            "failed to connect",
            "could not connect",
            "early eof",
            "unexpected eof",
            "connection closed",
            "network is unreachable",
            "no route to host",
            "could not read data",
            "failed to send",
            "failed to start ssh session",
            "failed to receive",
            "socket",
        ),
        Classification("connection", True),
    ),
]

_UNKNOWN_NETWORK = Classification("unknown", True)

# The hosts' own words for a push their branch protection refused. A custom
# pre-receive hook's refusal ("pre-receive hook declined", which git says of every
# hook) is not one of these: it is hook-declined, with the hook's message.
_PROTECTED = (
    # GitHub: branch protection, rulesets, force pushes
    "gh006: protected branch update failed",
    "protected branch hook declined",
    "gh013: repository rule violations found",
    "push declined due to repository rule violations",
    "gh003: sorry, force-pushing",
    # GitLab
    "not allowed to push code to protected branches",
    "not allowed to force push code to a protected branch",
    "not allowed to delete protected branches",
    "not allowed to merge code into protected branches",
    # Gitea and Forgejo
    "not allowed to push to protected branch",
    "is protected from force push",
    "is protected from deletion",
    "is protected from changing file",
    "is protected from unverified commit",
    # Bitbucket Data Center, Bitbucket Cloud
    "can only be modified through pull requests",
    "permission denied to update branch",
    # Azure DevOps (TF402455: pushes to this branch are not permitted; use a pull request)
    "tf402455",
)

_REJECTION: list[tuple[tuple[str, ...], Classification]] = [
    (
        _PROTECTED,
        Classification(
            "protected-branch",
            False,
            "the branch is protected on the server: allow this writer to push to it, "
            "or reconcile a branch it may push to",
        ),
    ),
    (
        ("hook declined", "declined"),
        Classification("hook-declined", False, "a server hook refused the push: read its message"),
    ),
    (
        (
            "non-fast-forward",
            "fetch first",
            "failed to update ref",
            "failed to lock",
            "cannot lock ref",
            "stale info",
            "already exists",
            "remote moved",
            "non-fastforwardable",
            "not present locally",
        ),
        Classification("non-fast-forward", True, "the remote moved during the run; run again"),
    ),
]

_UNKNOWN_REJECTION = Classification(
    "rejected", False, "the server refused the push: read its message"
)


def classify_network_error(message: str) -> Classification:
    """Classify a failed fetch, push or connect by libgit2's message."""
    text = message.lower()
    for patterns, classification in _NETWORK:
        if any(p in text for p in patterns):
            return classification
    return _UNKNOWN_NETWORK


def classify_rejection(message: str) -> Classification:
    """Classify the server's message for a refused ref."""
    text = message.lower()
    for patterns, classification in _REJECTION:
        if any(p in text for p in patterns):
            return classification
    return _UNKNOWN_REJECTION
