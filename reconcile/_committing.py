"""The committing step: the working tree staged, guarded and committed, before the run
goes on to fetch.

In order, each refusal ending the run ``blocked`` with nothing written (no ref, no
index; at most loose objects of files that passed their guards):

1. the repository can take a commit: a working tree, HEAD on the branch, and not an
   unborn branch whose remote branch exists (a first commit would start a history
   unrelated to it);
2. someone to commit as: the spec's committer, else the repository's configured
   user (git refuses to invent one, and so does this step);
3. the index, locked: no unmerged paths;
4. each changed path the request covers: left out when it matches ``exclude``
   (reported in ``skipped_paths``); refused for a ``filter=`` attribute not allowed
   to be bypassed, a size over ``max_file_size``, or a new line holding a secret;
   read as a snapshot and staged;
5. ``pre-commit`` (it may stage more), the message, ``commit-msg`` (it may edit it);
6. the commit written, the branch moved by compare-and-swap, the new index made
   the repository's.

Nothing to commit (the tree equals HEAD's) makes no commit: the run goes on.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._commit import (
    CommitInfo,
    CommitPolicy,
    CommitRequest,
    MessageSkipped,
    Trailer,
    signature_kind,
)
from ._commit_context import FileChange, MessageContext
from ._commit_guard import excluded, find_secret
from ._commit_message import cleanup, compose, files_text, render
from ._errors import ReconcileError, RefMovedError
from ._git import (
    IndexBusy,
    Snapshot,
    Staging,
    configured_identity,
    hook_path,
    run_hook,
    update_branch,
    write_commit,
)
from ._identity import Identity
from ._target import Target

__all__ = ["SQUASH_MARKER", "CommitPreview", "Committed", "commit_worktree", "repo_name"]

logger = logging.getLogger("reconcile")

#: The trailer that marks the commits ``squash_unpushed`` may squash: this tool's own.
SQUASH_MARKER: Trailer = ("Auto-committed-by", "git-reconcile")
_SHOWN = 10  # paths named in a reason


@dataclass(frozen=True)
class CommitPreview:
    """The commit a run would make (``git-reconcile commit --dry-run``): the changes
    (none: nothing to commit), the message and where it came from (and why a
    generator wrote none), the paths ``exclude`` leaves out, and why the commit
    would be refused (None: it would not)."""

    changes: tuple[FileChange, ...] = ()
    message: str = ""
    message_source: str = ""
    message_skipped: str | None = None
    skipped_paths: tuple[str, ...] = ()
    refusal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": [{"path": c.path, "status": c.status} for c in self.changes],
            "message": self.message,
            "message_source": self.message_source,
            "message_skipped": self.message_skipped,
            "skipped_paths": list(self.skipped_paths),
            "refusal": self.refusal,
        }


@dataclass(frozen=True)
class Committed:
    """What the committing step did: the commit (None: none was made), the paths left
    out by ``exclude``, why it refused (None: it did not), and a note for the reason.
    A preview makes no commit and says what it would be (``preview``)."""

    info: CommitInfo | None = None
    skipped: tuple[str, ...] = ()
    refusal: str | None = None
    note: str = ""
    preview: CommitPreview | None = None


@dataclass(frozen=True)
class _Who:
    author: Identity
    committer: Identity


def _shown(paths: list[str] | tuple[str, ...]) -> str:
    more = len(paths) - _SHOWN
    return ", ".join(paths[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def repo_name(target: Target) -> str:
    """``{repo}``: the policy's name, else the repository folder's."""
    name = target.spec.commit_policy.repo_name
    return name or target.path.name.removesuffix(".git") or str(target.path)


def commit_worktree(
    target: Target, request: CommitRequest, head: str | None, *, preview: bool = False
) -> Committed:
    """Stage and commit the working tree of ``target`` as ``request`` asks, on the
    branch's tip ``head`` (as the inspecting step left it: it may have finished a
    move a crash cut short). With ``preview``, only say what would be committed:
    the guards and the message as for a commit, no hook run, nothing written
    (the index untouched, no commit, no ref moved)."""
    problem = _cannot_commit(target, head)
    if problem is not None:
        return Committed(refusal=problem)
    who = _identities(target, request)
    if isinstance(who, str):
        return Committed(refusal=who)
    try:
        with Staging(target.repo, head) as staging:
            one = _Commit(target, request, staging, who, head)
            return one.preview() if preview else one.run()
    except IndexBusy as exc:
        return Committed(refusal=str(exc))


def _cannot_commit(target: Target, head: str | None) -> str | None:
    repo, branch = target.repo, target.branch
    if repo.is_bare:
        return (
            "a bare repository has no working tree to commit from; "
            "run the commit in a working-tree clone"
        )
    checked_out = repo.head_branch()
    if checked_out != branch:
        where = "HEAD is detached" if checked_out is None else f"HEAD is on {checked_out}"
        return (
            f"{where}, and a commit goes on the checked-out branch: check out {branch}, "
            "or reconcile without committing"
        )
    tracking = f"refs/remotes/{target.spec.remote}/{branch}"
    if head is None and repo.ref_exists(tracking):
        return (
            f"{branch} has no commits yet but {target.spec.remote}/{branch} exists: a first "
            "commit now would start a history unrelated to it; reconcile once without "
            "committing (it checks the remote branch out), then commit"
        )
    return None


def _identities(target: Target, request: CommitRequest) -> _Who | str:
    """The author and committer, or why there are none."""
    configured = configured_identity(target.repo)
    committer = target.spec.committer or configured
    if committer is None:
        return (
            "no identity to commit as: set one in the repository "
            "(git config user.name 'Data Sync' && git config user.email sync@example.com), "
            "or give the spec a committer (RepoSpec(committer=Identity(name, email)))"
        )
    return _Who(request.author or configured or committer, committer)


class _Commit:
    """One pass of the committing step over a locked index."""

    def __init__(
        self,
        target: Target,
        request: CommitRequest,
        staging: Staging,
        who: _Who,
        head: str | None,
    ) -> None:
        self.target = target
        self.head = head
        self.request = request
        self.staging = staging
        self.who = who
        self.policy: CommitPolicy = target.spec.commit_policy
        self.when = time.time()
        self.skipped: tuple[str, ...] = ()
        self.busy: list[str] = []
        self.message_skipped: str | None = None

    def preview(self) -> Committed:
        """What ``run`` would commit, writing nothing (the lock released unchanged)."""
        refusal = self._stage()
        if refusal is not None:
            return Committed(skipped=self.skipped, refusal=refusal)
        tree = self.staging.commit_tree()
        if tree == str(self.staging.head_tree.id):
            return Committed(skipped=self.skipped, note=self._note("nothing to commit"))
        changes = [FileChange(path, status) for path, status in self.staging.changes(tree)]
        message, source = self._message(changes, tree)
        shown = CommitPreview(tuple(changes), message, source, self.message_skipped, self.skipped)
        return Committed(skipped=self.skipped, note=self._note("dry run"), preview=shown)

    def run(self) -> Committed:
        refusal = self._stage()
        if refusal is not None:
            return Committed(skipped=self.skipped, refusal=refusal)
        tree = self.staging.commit_tree()
        if tree == str(self.staging.head_tree.id):
            return self._nothing(tree)
        index_file = self.staging.publish(tree)
        if self._runs("pre-commit"):
            refusal = self._hook("pre-commit", [], index_file)
            if refusal is not None:
                return Committed(skipped=self.skipped, refusal=refusal)
            tree = self.staging.tree_of(index_file, tree)  # the hook may have staged more
            if tree == str(self.staging.head_tree.id):
                self.staging.finish()
                return Committed(skipped=self.skipped, note=self._note("nothing to commit"))
        changes = [FileChange(path, status) for path, status in self.staging.changes(tree)]
        message, source = self._message(changes, tree)
        message, refusal = self._commit_msg(message, index_file)
        if refusal is not None:
            return Committed(skipped=self.skipped, refusal=refusal)
        return self._write(tree, changes, message, source)

    # --- staging ----------------------------------------------------------------------

    def _stage(self) -> str | None:
        """Stage every change the request covers; the first refusal, if any."""
        pending, unmerged = self.staging.pending()
        if unmerged:
            return (
                f"unmerged paths: {_shown(unmerged)}; resolve them (edit, then git add) "
                "and run again"
            )
        chosen = [p for p in pending if _covered(p.path, self.request.paths)]
        self.skipped = tuple(p.path for p in chosen if excluded(p.path, self.policy.exclude))
        for change in chosen:
            if change.path in self.skipped or self.staging.is_submodule(change.path):
                continue
            if not change.worktree:
                self.staging.keep(change.path)
                continue
            refusal = self._stage_file(change.path)
            if refusal is not None:
                return refusal
        return None

    def _stage_file(self, path: str) -> str | None:
        policy, staging = self.policy, self.staging
        name = staging.filter_of(path)
        bypassed = name is None or name in policy.bypass_filters
        if not bypassed and (staging.workdir / path).exists():
            return (
                f"{path} has the attribute filter={name}, which this tool cannot run: "
                f"committing it would store the raw file, not what filter {name} stores; "
                "commit it with git, or allow the filter to be bypassed (bypass_filters)"
            )
        snapshot = staging.snapshot(path, policy.max_file_size)
        if snapshot.too_large:
            return (
                f"{path} is {snapshot.size:,} bytes, over max_file_size "
                f"({policy.max_file_size:,}); exclude it, or raise max_file_size"
            )
        if snapshot.busy:
            self.busy.append(path)
            return None
        refusal = self._scan(snapshot)
        if refusal is None:
            staging.stage(snapshot)
        return refusal

    def _scan(self, snapshot: Snapshot) -> str | None:
        if snapshot.data is None or not self.policy.scan_secrets:
            return None
        hit = find_secret(snapshot.path, snapshot.data, self.staging.head_blob(snapshot.path))
        if hit is None:
            return None
        return (
            f"{hit.describe()}; nothing was committed: take it out, exclude the path, "
            "or turn scan_secrets off if it is no secret"
        )

    def _nothing(self, tree: str) -> Committed:
        if self.staging.staged:  # entries refreshed (e.g. a change reverted): keep them
            self.staging.publish(tree)
            self.staging.finish()
        return Committed(skipped=self.skipped, note=self._note("nothing to commit"))

    def _note(self, what: str) -> str:
        notes = [what]
        if self.message_skipped:
            notes.append(f"message from the template ({self.message_skipped})")
        if self.skipped:
            notes.append(f"left out (exclude): {_shown(self.skipped)}")
        if self.busy:
            notes.append(f"still being written, left for the next commit: {_shown(self.busy)}")
        return "; ".join(notes)

    # --- hooks ------------------------------------------------------------------------

    def _runs(self, name: str) -> bool:
        return self.policy.hooks == "run" and hook_path(self.target.repo, name) is not None

    def _hook(self, name: str, args: list[str], index_file: Path) -> str | None:
        if not self._runs(name):
            return None
        author = self.who.author
        offset = time.strftime("%z", time.localtime(self.when))
        env = {
            "GIT_INDEX_FILE": str(index_file),
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"@{int(self.when)} {offset}",
        }
        failure = run_hook(self.target.repo, name, args, env, self.policy.hook_timeout)
        return None if failure is None else failure.describe(self.policy.hook_timeout)

    def _commit_msg(self, message: str, index_file: Path) -> tuple[str, str | None]:
        """The message after the ``commit-msg`` hook (which may edit it), and why the
        commit is refused, if it is."""
        if not self._runs("commit-msg"):
            return message, None
        editmsg = self.target.repo.gitdir / "COMMIT_EDITMSG"
        editmsg.write_text(message, encoding="utf-8")
        refusal = self._hook("commit-msg", [str(editmsg)], index_file)
        if refusal is not None:
            return message, refusal
        edited = cleanup(editmsg.read_text(encoding="utf-8", errors="replace"))
        if not edited:
            return message, "the commit-msg hook left the message empty; nothing was committed"
        return edited, None

    # --- the message ------------------------------------------------------------------

    def _message(self, changes: list[FileChange], tree: str) -> tuple[str, str]:
        """The message with its trailers, and where its text came from."""
        text, source = self._text(changes, tree)
        return compose(text, self._trailers(), self.policy.max_message_length), source

    def _text(self, changes: list[FileChange], tree: str) -> tuple[str, str]:
        if self.request.message is not None:
            return self.request.message, "explicit"
        moment = datetime.fromtimestamp(self.when, UTC)
        context = MessageContext(
            repo=repo_name(self.target),
            branch=self.target.branch,
            trigger=self.request.trigger,
            hostname=socket.gethostname(),
            when=moment,
            changes=tuple(changes),
            diff=lambda: self.staging.patch(tree),
            skipped=self.skipped,
            exclude=self.policy.exclude,
        )
        generated = self._generated(context)
        if generated is not None:
            return generated
        values = {
            "date": moment.strftime("%Y-%m-%d"),
            "time": moment.strftime("%H:%M:%SZ"),
            "hostname": context.hostname,
            "repo": context.repo,
            "branch": context.branch,
            "trigger": context.trigger,
            "num_files": str(len(changes)),
            "files": files_text(context.paths),
        }
        return render(self.policy.template, values), "template"

    def _generated(self, context: MessageContext) -> tuple[str, str] | None:
        generator = self.policy.generator
        if generator is None:
            return None
        try:
            text = generator.generate(context)
        except MessageSkipped as skipped:
            self.message_skipped = str(skipped) or "skipped"
            logger.info(
                "%s: the template writes the message: %s", generator.name, self.message_skipped
            )
            return None
        except Exception as exc:
            self.message_skipped = f"{generator.name} failed: {type(exc).__name__}"
            logger.warning(
                "the message generator %s failed; the template writes the message",
                generator.name,
                exc_info=True,
            )
            return None
        if text and text.strip():
            return text, generator.name
        self.message_skipped = f"{generator.name} wrote no message"
        return None

    def _trailers(self) -> list[Trailer]:
        request, policy, author = self.request, self.policy, self.who.author
        co_authors = dict.fromkeys((*request.co_authors, *policy.co_authors))
        trailers = [*request.trailers, *policy.trailers]
        trailers += [("Co-authored-by", str(c)) for c in co_authors if c != author]
        if policy.squash_unpushed:
            trailers.append(SQUASH_MARKER)
        return trailers

    # --- writing ----------------------------------------------------------------------

    def _write(self, tree: str, changes: list[FileChange], message: str, source: str) -> Committed:
        target, who = self.target, self.who
        parents = [self.head] if self.head else []
        try:
            sha, signed = write_commit(
                target.repo,
                tree,
                parents,
                who.author,
                who.committer,
                message,
                when=self.when,
                signer=self.policy.signer,
            )
        except ReconcileError:
            raise
        except Exception as exc:  # a signer is the caller's code: its failure refuses
            return Committed(skipped=self.skipped, refusal=f"signing the commit failed: {exc}")
        subject = message.split("\n", 1)[0]
        reflog = f"commit{'' if parents else ' (initial)'}: {subject}"
        try:
            update_branch(target.repo, target.branch, self.head, sha, reflog)
        except RefMovedError as exc:
            return Committed(skipped=self.skipped, refusal=f"{exc}; nothing was committed")
        self.staging.finish()
        info = CommitInfo(
            sha=sha,
            paths=tuple(c.path for c in changes),
            message=message,
            message_source=source,
            author=who.author,
            committer=who.committer,
            signed=signed,
            signature=signature_kind(self.policy.signer) if signed else None,
            message_skipped=self.message_skipped,
        )
        note = self._note(f"committed {len(changes)} file(s) as {sha[:10]}")
        return Committed(info=info, skipped=self.skipped, note=note)


def _covered(path: str, paths: tuple[str, ...] | None) -> bool:
    """Whether the request's ``paths`` (None: the whole tree) cover ``path``."""
    if paths is None:
        return True
    return any(not p or path == p or path.startswith(p.rstrip("/") + "/") for p in paths)
