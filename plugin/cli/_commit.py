"""``git-reconcile commit``: commit the working tree, then reconcile, in one run."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ._exit import ExitCode, epilog
from ._run import add_arguments as run_arguments
from ._run import reconcile_now, spec_of
from ._run import summary as run_summary

if TYPE_CHECKING:
    from reconcile import CommitPolicy, CommitPreview, CommitRequest, Result

__all__ = ["add_arguments", "dry_run_summary", "run", "summary"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_arguments(parser)
    parser.description = (
        "Commit the working tree (tracked changes, and new files .gitignore does not "
        "ignore), leaving out the usual secret files and refusing files with a filter= "
        "attribute, large files and new lines holding secrets, with the repository's "
        "pre-commit and commit-msg hooks; then reconcile as run does. Nothing to commit "
        "is no error."
    )
    parser.epilog = epilog("commit")
    parser.add_argument(
        "-m",
        "--message",
        help="the commit message (default: the template 'Update {num_files} file(s): {files}')",
    )
    parser.add_argument(
        "--author",
        metavar='"NAME <EMAIL>"',
        help="the author (default: the repository's user.name and user.email)",
    )
    parser.add_argument(
        "--co-author",
        action="append",
        default=[],
        metavar='"NAME <EMAIL>"',
        help="a co-author, as a Co-authored-by trailer (repeatable)",
    )
    parser.add_argument(
        "--trailer",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a trailer, in order (repeatable; KEY: VALUE works too)",
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        dest="paths",
        metavar="P",
        help="commit only changes at or under P, relative to the top of the tree (repeatable)",
    )
    _message_arguments(parser)
    _sign_arguments(parser)


def _message_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm-url",
        metavar="URL",
        help="an OpenAI-compatible API's root (e.g. http://127.0.0.1:11434/v1) whose model "
        "writes the message when -m gives none; the template does when it fails",
    )
    parser.add_argument("--llm-model", metavar="NAME", help="the model's name (with --llm-url)")
    parser.add_argument(
        "--llm-api-key-env",
        metavar="VAR",
        help="the environment variable holding the API key (with --llm-url)",
    )
    parser.add_argument(
        "--llm-timeout",
        type=float,
        metavar="SECONDS",
        help="seconds the commit waits for the model's message (default 10)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the files and the message the commit would have, committing nothing",
    )


def _sign_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sign",
        choices=["ssh", "gpg"],
        help="sign the commit (and replayed commits): no commit is made unsigned",
    )
    parser.add_argument(
        "--signing-key",
        metavar="KEY",
        help="an SSH private key file (--sign ssh) or a GPG key id (--sign gpg)",
    )
    parser.add_argument(
        "--gpg-home", metavar="DIR", help="the GnuPG home that holds the key (--sign gpg)"
    )


def _request(args: argparse.Namespace) -> CommitRequest:
    """The commit request of the flags; raises ``InvalidSpecError`` (exit 2)."""
    from reconcile import CommitRequest, Identity, parse_trailer

    return CommitRequest(
        message=args.message,
        paths=tuple(args.paths) or None,
        author=None if args.author is None else Identity.parse(args.author),
        co_authors=tuple(Identity.parse(a) for a in args.co_author),
        trailers=tuple(parse_trailer(t) for t in args.trailer),
        trigger="cli",
    )


def _policy(args: argparse.Namespace) -> CommitPolicy | None:
    """The commit policy of the flags (None: the default); raises ``InvalidSpecError``."""
    from reconcile import CommitPolicy, InvalidSpecError, LLMConfig, LLMGenerator, make_signer

    options: dict[str, object] = {}
    if (args.llm_url is None) != (args.llm_model is None):
        raise InvalidSpecError("--llm-url and --llm-model go together")
    if args.llm_url is None and (args.llm_api_key_env or args.llm_timeout is not None):
        raise InvalidSpecError("--llm-api-key-env and --llm-timeout need --llm-url")
    if args.llm_url is not None:
        more = {} if args.llm_timeout is None else {"timeout": args.llm_timeout}
        config = LLMConfig(args.llm_url, args.llm_model, args.llm_api_key_env, **more)
        options["generator"] = LLMGenerator(config)
    if args.sign is None and (args.signing_key or args.gpg_home):
        raise InvalidSpecError("--signing-key and --gpg-home need --sign ssh|gpg")
    if args.sign is not None:
        if not args.signing_key:
            raise InvalidSpecError(f"--sign {args.sign} needs --signing-key")
        options["signer"] = make_signer(args.sign, args.signing_key, args.gpg_home)
    return CommitPolicy(**options) if options else None  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    request, policy = _request(args), _policy(args)
    if args.dry_run:
        return _dry_run(args, request, policy)
    return reconcile_now(args, request, summary, policy)


def _dry_run(args: argparse.Namespace, request: CommitRequest, policy: CommitPolicy | None) -> int:
    from reconcile import preview_commit

    preview = preview_commit(spec_of(args, policy), request)
    if args.json:
        print(json.dumps({"dry_run": preview.to_dict()}))
    else:
        print(dry_run_summary(preview))
    return ExitCode.BLOCKED if preview.refusal is not None else ExitCode.OK


def dry_run_summary(preview: CommitPreview) -> str:
    """What ``--dry-run`` prints: the files, then the message, committing nothing."""
    if preview.refusal is not None:
        return f"dry run: the commit would be blocked: {preview.refusal}"
    if not preview.changes:
        lines = ["dry run: nothing to commit"]
    else:
        lines = [f"dry run: would commit {len(preview.changes)} file(s) (nothing committed)"]
        lines += [f"  {c.status[0].upper()} {c.path}" for c in preview.changes]
    if preview.skipped_paths:
        lines.append(f"  left out (exclude): {', '.join(preview.skipped_paths)}")
    if preview.changes:
        why = f"; {preview.message_skipped}" if preview.message_skipped else ""
        lines.append(f"message ({preview.message_source}{why}):")
        lines += [f"  {line}".rstrip() for line in preview.message.rstrip("\n").split("\n")]
    return "\n".join(lines)


def summary(result: Result) -> str:
    """``run``'s summary, with the commit and the paths left out."""
    lines = [run_summary(result)]
    if result.commit is not None:
        subject = result.commit.message.split("\n", 1)[0]
        signed = f" (signed, {result.commit.signature})" if result.commit.signed else ""
        lines.append(f"  commit: {result.commit.sha[:10]} {subject}{signed}")
        lines.append(f"  message: {_source(result)}")
    if result.skipped_paths:
        lines.append(f"  left out (exclude): {', '.join(result.skipped_paths)}")
    return "\n".join(lines)


def _source(result: Result) -> str:
    assert result.commit is not None
    skipped = result.commit.message_skipped
    return result.commit.message_source + (f" ({skipped})" if skipped else "")
