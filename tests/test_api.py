"""The public surface: names, values and the exception hierarchy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import reconcile
from reconcile import (
    BadInputError,
    GitError,
    InvalidSpecError,
    NotARepositoryError,
    Outcome,
    PushStatus,
    ReconcileError,
    RepoLockTimeout,
    RepoSpec,
    SSHKey,
    UnknownBranchError,
    UnknownRemoteError,
    _errors,
)

PUBLIC = {
    "AuthenticationError",
    "BadInputError",
    "CheckoutBlockedError",
    "GitError",
    "HostKeyError",
    "Identity",
    "InvalidSpecError",
    "NetworkError",
    "NotARepositoryError",
    "Outcome",
    "PushResult",
    "PushStatus",
    "ReconcileError",
    "RefMovedError",
    "RepoSpec",
    "Result",
    "SSHKey",
    "UnknownBranchError",
    "UnknownRemoteError",
    "__version__",
    "reconcile",
    "redact_text",
    "redact_url",
    "CancelToken",
    "CancelledError",
    "HTTPAuth",
    "NetworkOperation",
    "Progress",
    "Retry",
    "push_with_lease",
    "RepoLock",
    "RepoLockTimeout",
    "commit_reachable",
    "commit_only",
    "local_state",
    "LocalCommit",
    "LocalState",
    "configure_logging",
    "git_directory",
    "inspect_repo",
    "RepoInfo",
    "state_diagram",
    "HostKey",
    "HostKeyVerdict",
    "check_fingerprint",
    "check_host_key",
    "default_known_hosts",
    "known_hosts_line",
    "scan_host_key",
    "Credentials",
    "DubiousOwnershipError",
    "GitHubApp",
    "PathInUseError",
    "Provision",
    "Provisioned",
    "ensure_clone",
    "LockLostError",
    "RunGuard",
    "CommitInfo",
    "CommitPolicy",
    "CommitRequest",
    "CommitSigner",
    "DEFAULT_EXCLUDE",
    "DEFAULT_TEMPLATE",
    "FileChange",
    "MessageContext",
    "MessageGenerator",
    "parse_trailer",
    "IgnoreRules",
    "Trailer",
    # messages from a language model, previews and signed commits
    "CircuitBreaker",
    "CommitPreview",
    "GPGSigner",
    "LLMConfig",
    "LLMGenerator",
    "MessageSkipped",
    "SSHSigner",
    "SigningError",
    "make_signer",
    "preview_commit",
}


def test_public_names() -> None:
    """`__all__` lists exactly the public names, and each exists."""
    assert set(reconcile.__all__) == PUBLIC
    for name in reconcile.__all__:
        assert hasattr(reconcile, name)


def test_outcome_values_are_the_contract() -> None:
    """The seven outcome values are those of the design."""
    assert [o.value for o in Outcome] == [
        "in-sync",
        "fast-forwarded",
        "pushed-ahead",
        "rebased",
        "conflict-escaped",
        "fetch-failed",
        "blocked",
    ]
    assert [s.value for s in PushStatus] == ["ok", "failed", "rejected", "skipped"]


def test_bad_input_hierarchy() -> None:
    """Every bad-input error is a BadInputError and a ReconcileError."""
    for cls in (NotARepositoryError, UnknownRemoteError, UnknownBranchError, InvalidSpecError):
        assert issubclass(cls, BadInputError)
        assert issubclass(cls, ReconcileError)


def test_every_raised_exception_is_a_reconcile_error() -> None:
    """The lock's timeout sits in the hierarchy beside bad input and git errors, under neither."""
    assert issubclass(RepoLockTimeout, ReconcileError)
    assert not issubclass(RepoLockTimeout, BadInputError | GitError)


def test_hierarchy_is_drawn_in_the_docstring() -> None:
    """The exception module's docstring draws every exception class."""

    assert _errors.__doc__ is not None
    for name in _errors.__all__:
        assert name in _errors.__doc__


def test_spec_defaults() -> None:
    """A spec needs only a path: origin, HEAD's branch, conflicts/ prefix."""
    spec = RepoSpec("/srv/data")
    assert (spec.remote, spec.branch, spec.conflict_prefix, spec.push) == (
        "origin",
        None,
        "conflicts/",
        True,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.remote = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"conflict_prefix": ""},
        {"conflict_prefix": "a..b/"},
        {"conflict_prefix": "bad~"},
        {"timeout": float("inf")},
        {"branch": "refs/heads/main"},
        {"max_rounds": 0},
    ],
)
def test_malformed_spec_is_rejected(kwargs: dict[str, object]) -> None:
    """Malformed spec values raise InvalidSpecError naming the field."""
    with pytest.raises(InvalidSpecError, match=next(iter(kwargs))):
        RepoSpec("/srv/data", **kwargs)  # type: ignore[arg-type]


def test_every_problem_of_a_spec_is_named_at_once() -> None:
    """A spec with several malformed values names each of them in one error, so a
    fix of one does not reveal the next."""
    with pytest.raises(InvalidSpecError) as raised:
        RepoSpec("/srv/data", timeout=0, deadline=-1, max_rounds=0, branch="refs/heads/x")
    problems = str(raised.value).split("; ")
    assert [p.split(" ", 1)[0] for p in problems] == [
        "timeout",
        "deadline",
        "max_rounds",
        "branch",
    ]
    assert "not -1" in problems[1]


def test_ssh_key_needs_one_source_and_hides_secrets() -> None:
    """An SSHKey takes a file or text, not both, and never shows secrets in repr."""
    with pytest.raises(InvalidSpecError):
        SSHKey()
    key = SSHKey(private_key_data="-----BEGIN OPENSSH PRIVATE KEY-----x", passphrase="hunter2")
    assert "hunter2" not in repr(key)
    assert "BEGIN" not in repr(key)


def test_import_plugin_loads_no_web_stack() -> None:
    """``import plugin`` loads neither the web stack nor the database layer (its names
    load on first use, so the command line starts without them), and each public name
    of ``plugin`` and ``plugin.audit`` then resolves."""
    probe = (
        "import sys, plugin\n"
        "heavy = {'starlette', 'anyio', 'sqlalchemy', 'sqlmodel', 'prometheus_client'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
        "import plugin.audit\n"
        "missing = [n for n in plugin.__all__ if getattr(plugin, n, None) is None]\n"
        "missing += [n for n in plugin.audit.__all__ if getattr(plugin.audit, n, None) is None]\n"
        "print(missing)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "[]"]


def test_importing_the_library_loads_its_names_on_first_use() -> None:
    """`import reconcile` and a value object load neither pygit2 nor the engine; the
    first use of `reconcile()` does."""
    code = (
        "import sys, reconcile\n"
        "from reconcile import RepoSpec, Retry\n"
        "before = 'pygit2' in sys.modules or 'transitions' in sys.modules\n"
        "reconcile.reconcile\n"
        "print(before, 'pygit2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
