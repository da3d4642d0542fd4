"""Generated divergent histories for the rebase oracle, and the vocabulary they use.

A commit is a list of operations, each read against the tree it applies to, so any
sequence is valid: edits of lines in LF and CRLF text files, new files (also inside
directories, and under non-ASCII names), binary files, mode changes, symlinks,
deletions, file renames, directory renames (also into the top level, and split
between two directories), file/directory swaps and empty commits. On the remote's
side a commit may also repeat one of the local commits' changes exactly (a patch
already upstream), often followed by a commit that improves on it.
"""

from __future__ import annotations

import posixpath

from hypothesis import strategies as st
from oracle import BLOB, EXEC, LINK, Change, History, State

__all__ = ["histories"]

PATHS = [
    "a.txt",
    "b.txt",
    "c.bin",
    "d/x.txt",
    "d/y.txt",
    "d/new.txt",
    "d/sub/w.txt",
    "d/sub/v.bin",
    "e/v.txt",
    "é.txt",
    "日本/データ.txt",
    "naïve dir/f.txt",
    "link",
    "run.sh",
]
DIRECTORY_TARGETS = ["d2", "e/d", "f", "", "日本/d", "d/sub2"]
KINDS = [
    "edit",
    "edit",
    "edit",
    "append",
    "new",
    "new",
    "binary",
    "chmod",
    "symlink",
    "delete",
    "rename",
    "mvdir",
    "mvdir",
    "split",
    "swap",
    "crlf",
]

Op = tuple[str, int, int, bool]
op = st.tuples(st.sampled_from(KINDS), st.integers(0, 40), st.integers(0, 40), st.booleans())
commit = st.lists(op, max_size=2)  # [] is an empty commit
cherry = st.tuples(st.just("cherry"), st.integers(0, 40), st.integers(0, 40), st.booleans())
upstream_commit = st.one_of(commit, commit, st.lists(cherry, min_size=1, max_size=1))

EXTRAS: dict[str, tuple[bytes, int]] = {
    "b.txt": (b"one\r\ntwo\r\nthree\r\nfour\r\nfive\r\n", BLOB),
    "c.bin": (b"\x00\x01binary\x00", BLOB),
    "d/sub/w.txt": (b"w1\nw2\nw3\n", BLOB),
    "e/v.txt": (b"v1\nv2\n", BLOB),
    "é.txt": (b"accent\n", BLOB),
    "日本/データ.txt": ("データ\n".encode(), BLOB),
    "link": (b"a.txt", LINK),
    "run.sh": (b"#!/bin/sh\necho run\n", EXEC),
}


def _base(extras: list[str]) -> State:
    state: State = {
        "a.txt": (b"".join(b"line %d\n" % n for n in range(1, 9)), BLOB),
        "d/x.txt": (b"x1\nx2\nx3\nx4\n", BLOB),
        "d/y.txt": (b"y1\ny2\ny3\n", BLOB),
    }
    for path in extras:
        state[path] = EXTRAS[path]
    return state


@st.composite
def histories(draw: st.DrawFn) -> History:
    """A base tree, 1-3 remote commits and 1-3 local commits."""
    base = _base(draw(st.lists(st.sampled_from(sorted(EXTRAS)), unique=True, max_size=4)))
    local_ops = draw(st.lists(commit, min_size=1, max_size=3))
    upstream_ops = draw(st.lists(upstream_commit, min_size=1, max_size=3))
    local = _changes(base, local_ops, [])
    upstream = _changes(base, upstream_ops, local)
    return History(base=base, upstream=upstream, local=local)


def _changes(base: State, commits: list[list[Op]], local: list[Change]) -> list[Change]:
    state, changes = dict(base), []
    for ops in commits:
        steps = [ops]
        if ops and ops[0][0] == "cherry":
            _kind, which, edit, improve = ops[0]
            new = _cherry(state, local, which)
            changes.append(_diff(state, new))
            state = new
            steps = [[("edit", edit, edit, False)]] if improve else []
        for step in steps:
            new = dict(state)
            for one in step:
                new = _apply(new, one)
            changes.append(_diff(state, new))
            state = new
    return changes


def _diff(old: State, new: State) -> Change:
    change: Change = {path: entry for path, entry in new.items() if old.get(path) != entry}
    change.update({path: None for path in old if path not in new})
    return change


def _cherry(state: State, local: list[Change], which: int) -> State:
    """The state with one of the local commits' changes made again, when it applies."""
    if not local:
        return state
    new = dict(state)
    for path, entry in local[which % len(local)].items():
        if entry is None:
            new.pop(path, None)
        else:
            new[path] = entry
    return new if _valid(new) else state


# --- the operations -----------------------------------------------------------------


def _apply(state: State, one: Op) -> State:
    kind, i, j, flag = one
    new = _OPS[kind](dict(state), i, j, flag)
    return new if _valid(new) else state


def _text_files(state: State) -> list[str]:
    return sorted(p for p, (data, mode) in state.items() if mode != LINK and b"\0" not in data)


def _regular(state: State) -> list[str]:
    return sorted(p for p, (_data, mode) in state.items() if mode != LINK)


def _pick(items: list[str], i: int) -> str | None:
    return items[i % len(items)] if items else None


def _edit(state: State, i: int, j: int, flag: bool) -> State:
    path = _pick(_text_files(state), i)
    if path is None:
        return state
    data, mode = state[path]
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.split(eol)
    lines[j % len(lines)] = b"edit %d%s" % (j, b" x" if flag else b"")
    state[path] = (eol.join(lines), mode)
    return state


def _append(state: State, i: int, j: int, flag: bool) -> State:
    path = _pick(_text_files(state), i)
    if path is None:
        return state
    data, mode = state[path]
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    state[path] = (data + b"more %d%s" % (j, eol if flag else b""), mode)
    return state


def _new(state: State, i: int, j: int, flag: bool) -> State:
    path = PATHS[i % len(PATHS)]
    eol = b"\r\n" if flag else b"\n"
    state[path] = (b"new %d%sagain%s" % (j, eol, eol), BLOB)
    return state


def _binary(state: State, i: int, j: int, _flag: bool) -> State:
    path = _pick([p for p in PATHS if p.endswith(".bin")], i)
    assert path is not None
    state[path] = (b"\x00bin\x00%d" % j, state.get(path, (b"", BLOB))[1])
    return state


def _chmod(state: State, i: int, _j: int, _flag: bool) -> State:
    path = _pick(_regular(state), i)
    if path is not None:
        data, mode = state[path]
        state[path] = (data, EXEC if mode == BLOB else BLOB)
    return state


def _symlink(state: State, i: int, j: int, _flag: bool) -> State:
    path = "link" if i % 2 else PATHS[i % len(PATHS)]
    state[path] = (PATHS[j % len(PATHS)].encode(), LINK)
    return state


def _delete(state: State, i: int, _j: int, _flag: bool) -> State:
    path = _pick(sorted(state), i)
    if path is not None and len(state) > 1:
        del state[path]
    return state


def _rename(state: State, i: int, j: int, _flag: bool) -> State:
    path = _pick(sorted(state), i)
    target = PATHS[j % len(PATHS)]
    if path is not None and target not in state:
        state[target] = state.pop(path)
    return state


def _directories(state: State) -> list[str]:
    return sorted({d for path in state for d in _parents(path)})


def _mvdir(state: State, i: int, j: int, flag: bool) -> State:
    """Move every file of a directory into another one (maybe editing one of them)."""
    source = _pick(_directories(state), i)
    target = DIRECTORY_TARGETS[j % len(DIRECTORY_TARGETS)]
    if source is None or target == source or target.startswith(f"{source}/"):
        return state
    moved = sorted(p for p in state if p.startswith(f"{source}/"))
    for path in moved:
        entry = state.pop(path)
        state[posixpath.join(target, path[len(source) + 1 :])] = entry
    if flag and moved:
        return _append(state, 0, j, True)
    return state


def _split(state: State, i: int, j: int, _flag: bool) -> State:
    """Move a directory's files into two other directories, alternately."""
    source = _pick(_directories(state), i)
    if source is None:
        return state
    targets = [t for t in DIRECTORY_TARGETS if t and t != source and not t.startswith(source)]
    first, second = targets[j % len(targets)], targets[(j + 1) % len(targets)]
    moved = sorted(p for p in state if p.startswith(f"{source}/"))
    for n, path in enumerate(moved):
        entry = state.pop(path)
        state[posixpath.join(first if n % 2 else second, posixpath.basename(path))] = entry
    return state


def _swap(state: State, i: int, _j: int, _flag: bool) -> State:
    """A file becomes a directory of the same name, or a directory a file."""
    path = _pick(sorted(state) + _directories(state), i)
    if path is None:
        return state
    if path in state:
        entry = state.pop(path)
        state[f"{path}/inner.txt"] = entry
        return state
    for inner in [p for p in state if p.startswith(f"{path}/")]:
        del state[inner]
    state[path] = (b"was a directory\n", BLOB)
    return state


def _crlf(state: State, i: int, _j: int, _flag: bool) -> State:
    path = _pick(_text_files(state), i)
    if path is not None:
        data, mode = state[path]
        if b"\r\n" in data:
            state[path] = (data.replace(b"\r\n", b"\n"), mode)
        else:
            state[path] = (data.replace(b"\n", b"\r\n"), mode)
    return state


_OPS = {
    "edit": _edit,
    "append": _append,
    "new": _new,
    "binary": _binary,
    "chmod": _chmod,
    "symlink": _symlink,
    "delete": _delete,
    "rename": _rename,
    "mvdir": _mvdir,
    "split": _split,
    "swap": _swap,
    "crlf": _crlf,
}


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def _valid(state: State) -> bool:
    """No path is both a file and a directory, and the tree is not empty."""
    return bool(state) and not any(d in state for path in state for d in _parents(path))
