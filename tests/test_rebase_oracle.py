"""The in-memory rebase against ``git rebase`` as the oracle.

Generated divergent histories (renames, mode changes, binaries, CRLF text, symlinks,
file/directory swaps, empty commits, non-ASCII names, patches already upstream,
directory renames) are rebased by git 2.39 in one clone and by reconcile() in
another. Where git rebases cleanly, reconcile() rebases to the same tree and the same
commits (authors, author dates, messages, order); where git conflicts, it escapes
the local commits to a conflict branch. It differs from git on purpose in three
kinds of history, each with a named test below, never losing a commit: a local
change that git takes for one already upstream although it differs in whitespace
is replayed (and escaped, or kept); a file added into a new subdirectory of a
directory the other side renamed is escaped; and so is a local rename onto a path
the remote added too, where git's rebase drops the remote's change of the old file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest
from histories import histories
from hypothesis import HealthCheck, given, settings
from oracle import BLOB, EXEC, Answer, Change, History, compare

from reconcile import Outcome
from reconcile._git._patch_ids import patch_id
from reconcile._git._renames import MAX_SCORE, similarity

TEXT = b"".join(b"line %d\n" % n for n in range(1, 9))
GIT_SHOW = ("git", "-c", "core.quotePath=false", "diff-tree", "-p", "--full-index", "--no-renames")


def _check_against_git(answer: Answer) -> None:
    """reconcile() did what git did, or escaped where git conflicted, or escaped in
    one of the two kinds of history where it is stricter than git on purpose."""
    outcome = answer.result.outcome
    if not answer.git_clean:
        assert outcome is Outcome.CONFLICT_ESCAPED, (answer.result.reason, answer.git_output)
        _check_escaped(answer)
        return
    if answer.agrees:
        remote = pygit2.Repository(str(answer.remote))
        assert str(remote.branches.local["main"].target) == answer.result.new_commit
        return
    if _whitespace_only(answer):
        # git dropped a commit whose change is upstream's only once whitespace is
        # folded away; here it is replayed: escaped, or rebased keeping it.
        if outcome is Outcome.REBASED:
            assert len(answer.commits) > len(answer.git_commits), answer.result.reason
        else:
            assert outcome is Outcome.CONFLICT_ESCAPED, answer.result.reason
            _check_escaped(answer)
        return
    assert outcome is Outcome.CONFLICT_ESCAPED, (answer.result.reason, answer.git_output)
    _check_escaped(answer)
    assert _left_behind(answer) or _collides(answer), answer.result.reason


def _check_escaped(answer: Answer) -> None:
    """The escaped commits are all on the remote's conflict branch, nothing lost."""
    branch = answer.result.conflict_branch
    assert branch is not None
    remote = pygit2.Repository(str(answer.remote))
    assert str(remote.branches.local[branch].target) == answer.local_tip


def _left_behind(answer: Answer) -> bool:
    """git rebased and left the added file in the directory the other side renamed."""
    detail = answer.result.reason
    return "directory rename" in detail and any(
        path in answer.git_paths for path in answer.result.conflict_paths
    )


def _collides(answer: Answer) -> bool:
    """A local rename onto a path the upstream added too (git resolves it by dropping
    the upstream's own change of the old file)."""
    return "which the other side added too" in answer.result.reason


def _whitespace_only(answer: Answer) -> bool:
    """git dropped a local commit whose patch matches an upstream one only once
    whitespace is folded away."""
    remote = pygit2.Repository(str(answer.remote))
    walker = remote.walk(answer.upstream_tip)
    walker.hide(answer.local_tip)
    upstream = [c for c in walker if len(c.parents) == 1]
    folded = {patch_id(remote, c, exact=False) for c in upstream}
    exact = {patch_id(remote, c) for c in upstream}
    commits = [remote[c].peel(pygit2.Commit) for c in answer.local_commits]
    return any(
        patch_id(remote, c, exact=False) in folded and patch_id(remote, c) not in exact
        for c in commits
    )


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(history=histories())
@pytest.mark.timeout(300)  # 120 histories, each rebased twice: about 30 s, more under load
def test_rebase_agrees_with_git(tmp_path_factory: pytest.TempPathFactory, history: History) -> None:
    """On generated histories reconcile() rebases exactly as git does, escapes where git
    conflicts, and is stricter than git only by escaping."""
    _check_against_git(compare(history, tmp_path_factory.mktemp("oracle")))


# --- each kind of history fixed, by name ----------------------------------------------


def _file(answer: Answer, path: str) -> tuple[bytes, int]:
    """A file of the remote's main after the run: its content and mode."""
    tip = pygit2.Repository(str(answer.remote)).branches.local["main"].peel(pygit2.Commit)
    blob = tip.tree[path]
    assert isinstance(blob, pygit2.Blob)
    return blob.data, int(blob.filemode)


def _rebased_as_git(history: History, root: Path) -> Answer:
    answer = compare(history, root)
    assert answer.git_clean, answer.git_output
    assert answer.agrees, (answer.result.reason, answer.git_output)
    return answer


def _escaped_as_git(history: History, root: Path) -> Answer:
    answer = compare(history, root)
    assert not answer.git_clean, answer.git_output
    assert answer.result.outcome is Outcome.CONFLICT_ESCAPED, answer.result.reason
    _check_escaped(answer)
    return answer


def test_a_patch_already_upstream_is_dropped(tmp_path: Path) -> None:
    """A local change the remote made too, then improved, is dropped as git drops it,
    where a three-way replay would conflict."""
    changed = TEXT.replace(b"line 4", b"line four")
    history = History(
        base={"a.txt": (TEXT, BLOB)},
        upstream=[
            {"a.txt": (changed, BLOB)},
            {"a.txt": (changed.replace(b"line four", b"line FOUR"), BLOB)},
        ],
        local=[{"a.txt": (changed, BLOB)}, {"b.txt": (b"mine\n", BLOB)}],
    )
    answer = _rebased_as_git(history, tmp_path)
    assert [message for *_who, message in answer.commits] == ["local 1\n\nbody ü\n"]
    assert "dropped 1 already on origin" in answer.result.reason


def test_a_patch_already_upstream_is_dropped_even_where_it_would_replay(tmp_path: Path) -> None:
    """A local change the remote made and then took back is dropped too, as git does,
    although replaying it would apply cleanly."""
    changed = TEXT.replace(b"line 4", b"line four")
    history = History(
        base={"a.txt": (TEXT, BLOB)},
        upstream=[{"a.txt": (changed, BLOB)}, {"a.txt": (TEXT, BLOB)}],
        local=[{"a.txt": (changed, BLOB)}],
    )
    answer = _rebased_as_git(history, tmp_path)
    assert answer.commits == []
    assert answer.result.new_commit == answer.upstream_tip


def test_a_binary_patch_already_upstream_is_dropped(tmp_path: Path) -> None:
    """The same binary change upstream drops the local commit; a different one does not."""
    same = History(
        base={"c.bin": (b"\0old", BLOB)},
        upstream=[{"c.bin": (b"\0new", BLOB)}, {"c.bin": (b"\0newer", BLOB)}],
        local=[{"c.bin": (b"\0new", BLOB)}],
    )
    assert _rebased_as_git(same, tmp_path / "same").commits == []
    other = History(
        base={"c.bin": (b"\0old", BLOB)},
        upstream=[{"c.bin": (b"\0new", BLOB)}, {"c.bin": (b"\0newer", BLOB)}],
        local=[{"c.bin": (b"\0mine", BLOB)}],
    )
    _escaped_as_git(other, tmp_path / "other")


def test_a_change_differing_only_in_whitespace_is_not_taken_for_one_upstream(
    tmp_path: Path,
) -> None:
    """git folds whitespace out of patch ids and drops ``x = 2`` for the remote's
    ``x=2``; here whitespace is data, so the commit is replayed, conflicts and is
    escaped with its exact content kept."""
    history = History(
        base={"f.txt": (b"x=1\ny=1\n", BLOB)},
        upstream=[{"f.txt": (b"x=2\ny=1\n", BLOB)}, {"f.txt": (b"x=2\ny=3\n", BLOB)}],
        local=[{"f.txt": (b"x = 2\ny=1\n", BLOB)}],
    )
    answer = compare(history, tmp_path)
    assert answer.git_clean
    assert "skipped previously applied commit" in answer.git_output
    assert answer.result.outcome is Outcome.CONFLICT_ESCAPED
    _check_escaped(answer)
    assert _whitespace_only(answer)


def test_a_change_undone_modulo_whitespace_is_kept(tmp_path: Path) -> None:
    """The remote converted a.txt to CRLF, a local commit did the same and then
    converted it back: git takes the way back for the remote's change too (whitespace
    folded) and drops it; here it is replayed, and a.txt ends as LF, as the local
    writer left it."""
    crlf = TEXT.replace(b"\n", b"\r\n")
    history = History(
        base={"a.txt": (TEXT, BLOB)},
        upstream=[{"a.txt": (crlf, BLOB)}],
        local=[{"a.txt": (crlf, BLOB)}, {"a.txt": (TEXT, BLOB)}],
    )
    answer = compare(history, tmp_path)
    assert answer.git_clean
    assert answer.git_commits == []
    assert answer.result.outcome is Outcome.REBASED
    assert len(answer.commits) == 1
    assert _file(answer, "a.txt") == (TEXT, BLOB)


def test_a_rename_onto_a_path_the_remote_added_too_escapes(tmp_path: Path) -> None:
    """A local commit moved d/y.txt to f/y.txt, where the remote added the same file
    while it rewrote d/y.txt: git rebases and the remote's d/y.txt is gone from the
    result; here the commits are escaped, and nothing of either side is lost."""
    history = History(
        base={"d/y.txt": (b"y1\ny2\ny3\n", BLOB), "a.txt": (b"a\n", BLOB)},
        upstream=[{"f/y.txt": (b"y1\ny2\ny3\n", BLOB), "d/y.txt": (b"new\nagain\n", BLOB)}],
        local=[{"d/y.txt": None, "f/y.txt": (b"y1\ny2\ny3\n", BLOB)}],
    )
    answer = compare(history, tmp_path)
    assert answer.git_clean
    assert "d/y.txt" not in answer.git_paths
    assert answer.result.outcome is Outcome.CONFLICT_ESCAPED
    _check_escaped(answer)
    assert _collides(answer)
    assert _file(answer, "d/y.txt") == (b"new\nagain\n", BLOB)


def test_a_file_where_the_remote_changed_a_directory_escapes(tmp_path: Path) -> None:
    """A local commit replaced the directory d with a file d while the remote added a
    file inside d: git's CONFLICT (file/directory); libgit2 alone would drop the
    local file d and rebase."""
    history = History(
        base={"d/x.txt": (b"x\n", BLOB), "a.txt": (b"a\n", BLOB)},
        upstream=[{"d/new.txt": (b"new\n", BLOB)}],
        local=[{"d/x.txt": None, "d": (b"now a file\n", BLOB)}],
    )
    answer = _escaped_as_git(history, tmp_path)
    assert "file/directory" in answer.result.reason


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("mode_side", ["upstream", "local"])
def test_mode_and_content_are_merged_apart(tmp_path: Path, binary: bool, mode_side: str) -> None:
    """A mode changed on one side and the content on the other are merged separately,
    as git does, for binary files too (libgit2 alone reports a conflict)."""
    old, new = (b"\0old", b"\0new") if binary else (b"old\n", b"new\n")
    mode_change: Change = {"f": (old, EXEC)}
    content_change: Change = {"f": (new, BLOB)}
    upstream, local = (
        (mode_change, content_change) if mode_side == "upstream" else (content_change, mode_change)
    )
    history = History(base={"f": (old, BLOB)}, upstream=[upstream], local=[local])
    answer = _rebased_as_git(history, tmp_path)
    assert _file(answer, "f") == (new, EXEC)


def test_binary_content_changed_on_both_sides_still_conflicts(tmp_path: Path) -> None:
    """Merging modes apart resolves nothing else: two content changes of a binary
    file conflict, with the mode changed too."""
    history = History(
        base={"f": (b"\0old", BLOB)},
        upstream=[{"f": (b"\0theirs", EXEC)}],
        local=[{"f": (b"\0mine", BLOB)}],
    )
    _escaped_as_git(history, tmp_path)


def test_a_file_added_into_a_directory_the_remote_renamed_escapes(tmp_path: Path) -> None:
    """The remote renamed notes/ to docs/notes/ and a local commit adds notes/c.txt:
    git reports CONFLICT (file location), and the commits are escaped rather than
    leaving the file where the renamed directory's readers never look."""
    history = History(
        base={"notes/a.txt": (b"a\n", BLOB), "notes/b.txt": (b"b\n", BLOB)},
        upstream=[
            {
                "notes/a.txt": None,
                "notes/b.txt": None,
                "docs/notes/a.txt": (b"a\n", BLOB),
                "docs/notes/b.txt": (b"b\n", BLOB),
            }
        ],
        local=[{"notes/c.txt": (b"c\n", BLOB)}],
    )
    answer = _escaped_as_git(history, tmp_path)
    assert "CONFLICT (file location)" in answer.git_output
    assert answer.result.conflict_paths == ("notes/c.txt",)
    assert "upstream renamed notes/ to docs/notes/" in answer.result.reason


def test_a_file_the_remote_adds_into_a_directory_a_local_commit_renamed_escapes(
    tmp_path: Path,
) -> None:
    """The other way round: a local commit renamed the directory, the remote added a
    file into the old one."""
    history = History(
        base={"notes/a.txt": (b"a\n", BLOB), "notes/b.txt": (b"b\n", BLOB)},
        upstream=[{"notes/c.txt": (b"c\n", BLOB)}],
        local=[
            {
                "notes/a.txt": None,
                "notes/b.txt": None,
                "archive/a.txt": (b"a\n", BLOB),
                "archive/b.txt": (b"b\n", BLOB),
            }
        ],
    )
    answer = _escaped_as_git(history, tmp_path)
    assert "a local commit renamed notes/ to archive/" in answer.result.reason


def test_a_directory_split_between_two_escapes(tmp_path: Path) -> None:
    """A directory whose files went to two directories equally, with a file added
    into it: git's CONFLICT (directory rename split)."""
    history = History(
        base={"d/a.txt": (b"a\n", BLOB), "d/b.txt": (b"b\n", BLOB)},
        upstream=[
            {
                "d/a.txt": None,
                "d/b.txt": None,
                "x/a.txt": (b"a\n", BLOB),
                "y/b.txt": (b"b\n", BLOB),
            }
        ],
        local=[{"d/c.txt": (b"c\n", BLOB)}],
    )
    answer = _escaped_as_git(history, tmp_path)
    assert "split d/ between several directories" in answer.result.reason


def test_a_directory_renamed_into_the_top_level_escapes(tmp_path: Path) -> None:
    """A directory whose files moved to the top level counts as renamed there."""
    history = History(
        base={"d/a.txt": (b"a\n", BLOB), "d/b.txt": (b"b\n", BLOB)},
        upstream=[
            {"d/a.txt": None, "d/b.txt": None, "a.txt": (b"a\n", BLOB), "b.txt": (b"b\n", BLOB)}
        ],
        local=[{"d/c.txt": (b"c\n", BLOB)}],
    )
    _escaped_as_git(history, tmp_path)


def test_a_file_in_a_new_subdirectory_of_a_renamed_directory_escapes(tmp_path: Path) -> None:
    """Stricter than git's merge-ort on purpose: it rebases and leaves notes/new/c.txt
    behind in the renamed directory without a word (merge-recursive reports the
    conflict); here the commits are escaped."""
    history = History(
        base={"notes/a.txt": (b"a\n", BLOB), "notes/b.txt": (b"b\n", BLOB)},
        upstream=[
            {
                "notes/a.txt": None,
                "notes/b.txt": None,
                "docs/a.txt": (b"a\n", BLOB),
                "docs/b.txt": (b"b\n", BLOB),
            }
        ],
        local=[{"notes/new/c.txt": (b"c\n", BLOB)}],
    )
    answer = compare(history, tmp_path)
    assert answer.git_clean
    assert "notes/new/c.txt" in answer.git_paths
    assert answer.result.outcome is Outcome.CONFLICT_ESCAPED
    _check_escaped(answer)
    assert _left_behind(answer)


def test_a_directory_only_partly_moved_is_not_renamed(tmp_path: Path) -> None:
    """A directory that still exists upstream was not renamed: the added file stays
    where it was added, as with git."""
    history = History(
        base={"d/a.txt": (b"a\n", BLOB), "d/b.txt": (b"b\n", BLOB)},
        upstream=[{"d/a.txt": None, "x/a.txt": (b"a\n", BLOB)}],
        local=[{"d/c.txt": (b"c\n", BLOB)}],
    )
    _rebased_as_git(history, tmp_path)


def test_a_rename_git_would_not_see_escapes(tmp_path: Path) -> None:
    """libgit2 would take the remote's new c.txt for a rename of the d/x.txt a local
    commit edited; git finds them too different and reports CONFLICT (modify/delete):
    the commits are escaped as with git."""
    history = History(
        base={"d/x.txt": (b"x1\nx2\nx3\nx4\n", BLOB), "a.txt": (b"a\n", BLOB)},
        upstream=[{"d/x.txt": None, "c.txt": (b"x1\nx2\nedit 7 x\nx4\nedit 34 x", BLOB)}],
        local=[{"d/x.txt": (b"x1\nx2\nedit 7 x\nx4\nedit 34 x", BLOB)}],
    )
    answer = _escaped_as_git(history, tmp_path)
    assert "CONFLICT (modify/delete)" in answer.git_output
    assert answer.result.conflict_paths == ("d/x.txt",)


def test_a_small_file_renamed_upstream_gets_the_local_edit(tmp_path: Path) -> None:
    """A three-line file the remote moved (and appended to) is one libgit2 finds no
    rename for; git does, and so does the replay: the local edit lands in the moved
    file, as with git."""
    history = History(
        base={"d/y.txt": (b"y1\ny2\ny3\n", BLOB), "a.txt": (b"a\n", BLOB)},
        upstream=[{"d/y.txt": None, "d2/y.txt": (b"y1\ny2\ny3\nmore\n", BLOB)}],
        local=[{"d/y.txt": (b"y1\nmine\ny3\n", BLOB)}],
    )
    answer = _rebased_as_git(history, tmp_path)
    assert _file(answer, "d2/y.txt") == (b"y1\nmine\ny3\nmore\n", BLOB)


def test_a_rename_onto_a_file_the_remote_added_too_merges_as_git(tmp_path: Path) -> None:
    """A local commit moved a file to where the remote added the same file: git sees
    two equal additions (the rename concerns nobody else), and so does the replay."""
    history = History(
        base={"old/x.txt": (b"x1\nx2\nx3\nx4\n", BLOB), "a.txt": (b"a\n", BLOB)},
        upstream=[{"a.txt": None}, {"new/x.txt": (b"x1\nx2\nx3\nx4\n", BLOB)}],
        local=[{"old/x.txt": None, "new/x.txt": (b"x1\nx2\nx3\nx4\n", BLOB)}],
    )
    _rebased_as_git(history, tmp_path)


def test_identical_renames_pair_as_git_pairs_them(tmp_path: Path) -> None:
    """Both sides moved j/a.txt; the remote also copied it to a new directory first in
    path order. git takes the copy both sides share as the rename (merge-ort walks
    directories only one side has last), so the two renames agree, as here."""
    history = History(
        base={"j/a.txt": (b"data\n", BLOB), "k.txt": (b"k\n", BLOB)},
        upstream=[{"j/a.txt": None, "b/a.txt": (b"data\n", BLOB), "z/zz.txt": (b"data\n", BLOB)}],
        local=[{"j/a.txt": None, "z/zz.txt": (b"data\n", BLOB)}],
    )
    _rebased_as_git(history, tmp_path)


def test_a_rename_against_a_deletion_escapes(tmp_path: Path) -> None:
    """The remote renamed a file the local commit deleted: git's CONFLICT
    (rename/delete), an escape here."""
    lines = b"".join(b"row %d\n" % n for n in range(20))
    history = History(
        base={"old.txt": (lines, BLOB), "a.txt": (b"a\n", BLOB)},
        upstream=[{"old.txt": None, "new.txt": (lines, BLOB)}],
        local=[{"old.txt": None}],
    )
    answer = _escaped_as_git(history, tmp_path)
    assert "rename/delete" in answer.result.reason


def test_a_rename_both_see_carries_the_change(tmp_path: Path) -> None:
    """A file the remote renamed (and edited a little) gets the local edit, as with git."""
    lines = b"".join(b"row %d\n" % n for n in range(20))
    history = History(
        base={"old.txt": (lines, BLOB)},
        upstream=[{"old.txt": None, "new.txt": (lines + b"row 20\n", BLOB)}],
        local=[{"old.txt": (lines.replace(b"row 3\n", b"row three\n"), BLOB)}],
    )
    answer = _rebased_as_git(history, tmp_path)
    assert b"row three\n" in _file(answer, "new.txt")[0]
    assert "old.txt" not in answer.git_paths


def test_patch_ids_are_gits_for_text_changes(tmp_path: Path) -> None:
    """With whitespace folded, the patch id of a text change is ``git patch-id --stable``
    of the same diff: several files, CRLF, symlinks, deletions, non-ASCII names, a
    missing final newline."""
    history = History(
        base={
            "a.txt": (TEXT, BLOB),
            "crlf.txt": (b"x\r\ny\r\n", BLOB),
            "é n.txt": (b"k\n", BLOB),
            "link": (b"a.txt", 0o120000),
        },
        upstream=[],
        local=[
            {"a.txt": (TEXT.replace(b"line 2", b"L2").replace(b"line 8", b"L8"), BLOB)},
            {"crlf.txt": (b"x\r\nz\r\n", BLOB), "new.txt": (b"new\n", BLOB)},
            {"é n.txt": None, "link": (b"new.txt", 0o120000)},
            {"a.txt": (b"no final newline", BLOB)},
        ],
    )
    answer = compare(history, tmp_path)
    repo = pygit2.Repository(str(answer.remote))
    for commit in answer.local_commits:
        shown = subprocess.run(
            [*GIT_SHOW, commit],
            cwd=answer.remote,
            capture_output=True,
            check=True,
        ).stdout
        gits = subprocess.run(
            ["git", "patch-id", "--stable"], input=shown, capture_output=True, check=True
        ).stdout.split()[0]
        mine = patch_id(repo, repo[commit].peel(pygit2.Commit), exact=False)
        assert mine is not None
        assert mine.hex() == gits.decode()


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        (b"x1\nx2\nx3\nx4\n", b"x1\nx2\nedit 7 x\nx4\n"),
        (TEXT, TEXT + b"line 9\n"),
        (TEXT.replace(b"\n", b"\r\n"), TEXT + b"line 9\n"),
        (b"".join(b"%d" % n for n in range(200)), b"".join(b"%d" % n for n in range(180))),
        (b"\0" + TEXT, b"\0" + TEXT.replace(b"line 5", b"line five")),
    ],
)
def test_similarity_is_gits(tmp_path: Path, source: bytes, destination: bytes) -> None:
    """The similarity of two files is git's, as ``git diff -M`` shows it (from 50%,
    which is where it decides anything)."""
    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "source").write_bytes(source)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "one"], cwd=repo, check=True)
    (repo / "source").unlink()
    (repo / "destination").write_bytes(destination)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "two"], cwd=repo, check=True)
    raw = subprocess.run(
        ["git", "diff", "-M1%", "--raw", "HEAD~1", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = [line.split("\t")[0].split()[-1] for line in raw.splitlines()]
    score = next((int(s[1:]) for s in statuses if s.startswith("R")), 0)
    mine = similarity(source, destination) * 100 // MAX_SCORE
    assert mine == score if score >= 50 else mine < 50
