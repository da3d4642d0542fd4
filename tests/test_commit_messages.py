"""Commit messages: explicit, generated, from the template; co-authors and trailers in
git's trailer format; the length cap; requests coalesced into one."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from commitutil import ADA, GRACE, SYNC, commit, message, trailers, write
from gitutil import World

from reconcile import (
    DEFAULT_TEMPLATE,
    CommitPolicy,
    CommitRequest,
    Identity,
    InvalidSpecError,
    MessageContext,
    parse_trailer,
)


def test_an_explicit_message_is_used_as_given(world: World) -> None:
    """The request's message is the commit's message; its source is explicit."""
    app = world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(world.spec(app), message="Record the morning readings\n\nFrom sensor 4.")
    assert result.commit is not None
    assert result.commit.message_source == "explicit"
    assert message(app) == "Record the morning readings\n\nFrom sensor 4."


def test_the_default_template(path_world: World) -> None:
    """Without a message or a generator, the default template names the files,
    capped at five and "and N more"."""
    app = path_world.clone("app")
    write(app, {f"r{n}.txt": f"{n}\n" for n in range(7)})
    result = commit(path_world.spec(app))
    assert result.commit is not None
    assert result.commit.message_source == "template"
    assert DEFAULT_TEMPLATE == "Update {num_files} file(s): {files}"
    assert message(app) == "Update 7 file(s): r0.txt, r1.txt, r2.txt, r3.txt, r4.txt and 2 more"


def test_every_placeholder_is_replaced_everywhere(path_world: World) -> None:
    """Each placeholder is replaced wherever it appears: the date (UTC, ISO 8601), the
    time, the host, the repository, the branch, the trigger and the files."""
    app = path_world.clone("app")
    template = (
        "{repo}@{branch}: {num_files} by {trigger} on {date} {time}\n\n"
        "{files} / {hostname} / {repo} {date}"
    )
    policy = CommitPolicy(template=template, repo_name="readings")
    write(app, {"b.txt": "b\n", "a.txt": "a\n"})
    before = datetime.now(UTC)
    result = commit(path_world.spec(app, commit_policy=policy), trigger="notify")
    assert result.commit is not None
    subject, body = message(app).split("\n\n")
    found = re.fullmatch(
        r"readings@main: 2 by notify on (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\dZ)", subject
    )
    assert found is not None, subject
    when = datetime.strptime(f"{found[1]} {found[2]}", "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((when - before).total_seconds()) < 5
    assert body == f"a.txt, b.txt / {socket.gethostname()} / readings {found[1]}"


def test_a_template_with_an_unknown_placeholder_is_refused() -> None:
    """A typo in a placeholder is caught when the policy is made, naming the known ones."""
    with pytest.raises(InvalidSpecError, match=r"unknown placeholder\(s\) file; known: \{date\}"):
        CommitPolicy(template="Update {file}")


@dataclass
class Generator:
    """A message generator that answers what it is told to, and remembers what it saw."""

    answer: str | None = "Generated: readings updated"
    fails: bool = False
    name: str = "test-generator"
    seen: list[MessageContext] = field(default_factory=list)

    def generate(self, context: MessageContext) -> str | None:
        self.seen.append(context)
        if self.fails:
            raise RuntimeError("the generator is down")
        return self.answer


def test_a_generator_writes_the_message_from_the_changes(path_world: World) -> None:
    """A generator gets the changes and their diff, and its message is used, with its
    name as the source; the request's own message still comes first."""
    app = path_world.clone("app")
    generator = Generator()
    spec = path_world.spec(app, commit_policy=CommitPolicy(generator=generator))
    write(app, {"data.txt": "2\n", "new.txt": "n\n"})
    result = commit(spec, trigger="watch")
    assert result.commit is not None
    assert (result.commit.message_source, message(app)) == (
        "test-generator",
        "Generated: readings updated",
    )
    [context] = generator.seen
    assert [(c.path, c.status) for c in context.changes] == [
        ("data.txt", "modified"),
        ("new.txt", "added"),
    ]
    assert (context.branch, context.trigger, context.repo) == ("main", "watch", "app")
    assert "+2" in context.diff()
    assert "+n" in context.diff()
    write(app, {"x.txt": "x\n"})
    assert commit(spec, message="Mine").commit.message_source == "explicit"  # type: ignore[union-attr]


@pytest.mark.parametrize("generator", [Generator(answer=None), Generator(fails=True)])
def test_the_template_writes_when_the_generator_does_not(
    path_world: World, generator: Generator
) -> None:
    """A generator that returns nothing, or fails, leaves the message to the template."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(generator=generator)))
    assert result.commit is not None
    assert result.commit.message_source == "template"
    assert message(app) == "Update 1 file(s): a.txt"


def test_co_authors_and_trailers_are_git_trailers(world: World) -> None:
    """Co-authors and trailers, the request's and the policy's, follow the message
    after one blank line, in git's trailer format; the author is not its own co-author."""
    app = world.clone("app")
    policy = CommitPolicy(co_authors=(SYNC,), trailers=(("Source", "sensor-app"),))
    write(app, {"a.txt": "a\n"})
    result = commit(
        world.spec(app, commit_policy=policy),
        message="Readings",
        author=ADA,
        co_authors=(GRACE, ADA),
        trailers=(("Ticket", "DATA-7"), "Reviewed-by: Grace Hopper <grace@example.invalid>"),
    )
    assert result.commit is not None
    assert message(app).startswith("Readings\n\nTicket: DATA-7\n")
    assert trailers(app) == [
        "Ticket: DATA-7",
        "Reviewed-by: Grace Hopper <grace@example.invalid>",
        "Source: sensor-app",
        "Co-authored-by: Grace Hopper <grace@example.invalid>",
        "Co-authored-by: Data Sync <sync@example.invalid>",
    ]


def test_trailers_join_a_block_the_message_already_has(path_world: World) -> None:
    """A message that ends in trailers gets the new ones in the same block."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    commit(
        path_world.spec(app),
        message="Readings\n\nSigned-off-by: Ada Lovelace <ada@example.invalid>",
        co_authors=(GRACE,),
    )
    assert message(app) == (
        "Readings\n\nSigned-off-by: Ada Lovelace <ada@example.invalid>\n"
        "Co-authored-by: Grace Hopper <grace@example.invalid>"
    )
    assert len(trailers(app)) == 2


def test_max_message_length_cuts_the_body_at_a_word_never_the_trailers(
    path_world: World,
) -> None:
    """A long message is cut at a word boundary, marked with an ellipsis, so that the
    whole message fits; every trailer stays whole."""
    app = path_world.clone("app")
    policy = CommitPolicy(max_message_length=80)
    write(app, {"a.txt": "a\n"})
    words = "Recorded the readings of every sensor in the north building this morning"
    commit(path_world.spec(app, commit_policy=policy), message=words, co_authors=(GRACE,))
    text = message(app)
    assert len(text) <= 80
    subject = text.split("\n", 1)[0]
    assert subject.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert words.startswith(subject[:-1])
    assert words[len(subject) - 1] == " "
    assert trailers(app) == ["Co-authored-by: Grace Hopper <grace@example.invalid>"]


def test_requests_coalesced_into_one_lose_no_message_or_author() -> None:
    """Two requests made one keep both messages in order, the first author, the
    second as a co-author, every co-author and trailer once, and the paths of both."""
    first = CommitRequest(message="Add readings", author=ADA, paths=("a",), trailers=(("T", "1"),))
    second = CommitRequest(
        message="Fix a typo", author=GRACE, paths=("b",), co_authors=(SYNC,), trailers=(("T", "1"),)
    )
    merged = first.merged(second)
    assert merged.message == "Add readings\n\nFix a typo"
    assert merged.author == ADA
    assert merged.co_authors == (GRACE, SYNC)
    assert merged.trailers == (("T", "1"),)
    assert merged.paths == ("a", "b")
    assert first.merged(CommitRequest()).paths is None
    assert first.merged(CommitRequest()).message == "Add readings"
    assert CommitRequest().merged(CommitRequest(author=GRACE)).author == GRACE
    assert first.merged(first).message == "Add readings"


def test_trailers_and_identities_parse_as_git_writes_them() -> None:
    """'Key: value' and 'Key=value' are trailers; 'Name <email>' is an identity."""
    assert parse_trailer("Reviewed-by: Ada <a@x>") == ("Reviewed-by", "Ada <a@x>")
    assert parse_trailer("Ticket=DATA-7") == ("Ticket", "DATA-7")
    assert Identity.parse(" Ada Lovelace <ada@example.invalid> ") == ADA
    assert str(ADA) == "Ada Lovelace <ada@example.invalid>"
    for bad in ("no separator", ": no key", "Key:"):
        with pytest.raises(InvalidSpecError):
            parse_trailer(bad)
    for bad in ("Ada", "<ada@x>", "Ada <a@x> <b@x>"):
        with pytest.raises(InvalidSpecError):
            Identity.parse(bad)
