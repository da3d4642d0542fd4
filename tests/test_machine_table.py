"""Every row of the state table, checked with facts alone: no git, no repository.

The model here is a fake: its steps do no work, they only note that they ran, and
its conditions are the real ones (``Conditions``, answered by ``Facts``). The
real-git matrix (test_outcomes.py and others) checks that the steps find the
facts these cases assume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import pytest

from reconcile import CommitInfo, GitError, Identity, PushResult, PushStatus
from reconcile._engine import _drive
from reconcile._facts import Conditions, Facts
from reconcile._machine import NEXT, STEPS, TERMINAL, TRANSITIONS, build_machine
from reconcile._steps import Steps

A, B, C, D = "a" * 40, "b" * 40, "c" * 40, "d" * 40
STEP_OF = {step["name"]: step["on_enter"] for step in STEPS}
RACED = PushResult(PushStatus.REJECTED, 1, "the remote moved during the run", "non-fast-forward")
PROTECTED = PushResult(PushStatus.REJECTED, 1, "protected branch", "protected-branch")
LANDED = PushResult(PushStatus.OK, 1)
ME = Identity("App", "app@example.invalid")
COMMITTED = CommitInfo(B, ("data.txt",), "Update 1 file(s): data.txt\n", "template", ME, ME)


def known(**found: Any) -> Facts:
    """Facts of a run of main against origin, with what its steps found."""
    return Facts(branch="main", remote="origin", max_rounds=3, **found)


class FakeSteps(Conditions):
    """The table's model with the work taken out: each step notes that it ran."""

    state: str
    trigger: Callable[[str], bool]

    def __init__(
        self,
        facts: Facts,
        *,
        finds: dict[str, Callable[[Facts], Facts]] | None = None,
        fails_in: str | None = None,
    ) -> None:
        self.facts = facts
        self.ran: list[str] = []
        self._finds = finds or {}
        self._fails_in = fails_in

    def _step(self, name: str) -> None:
        self.ran.append(name)
        if name == self._fails_in:
            raise GitError("a ref name git refuses", kind="ref")
        if name in self._finds:
            self.facts = self._finds[name](self.facts)

    def inspect(self) -> None:
        self._step("inspect")

    def commit(self) -> None:
        self._step("commit")

    def fetch(self) -> None:
        self._step("fetch")

    def fast_forward(self) -> None:
        self._step("fast_forward")

    def rebase(self) -> None:
        self._step("rebase")

    def push(self) -> None:
        self._step("push")

    def escape(self) -> None:
        self._step("escape")


# trigger, source, dest, the facts at the source; at least one case per row.
CASES = [
    pytest.param("begin", "start", "inspecting", known(), id="start"),
    pytest.param(
        "inspected",
        "inspecting",
        "blocked",
        known(unsafe="another process is writing the repository"),
        id="unsafe",
    ),
    pytest.param(
        "inspected",
        "inspecting",
        "blocked",
        known(unsafe="a merge is in progress", commit_wanted=True),
        id="unsafe-before-a-commit",
    ),
    pytest.param(
        "inspected", "inspecting", "committing", known(commit_wanted=True), id="commit-asked"
    ),
    pytest.param("inspected", "inspecting", "fetching", known(), id="safe"),
    pytest.param(
        "committed",
        "committing",
        "blocked",
        known(commit_wanted=True, commit_refusal="secret.txt line 1 holds a Private Key"),
        id="commit-refused",
    ),
    pytest.param(
        "committed",
        "committing",
        "fetching",
        known(commit_wanted=True, local=B, commit=COMMITTED),
        id="committed",
    ),
    pytest.param(
        "committed",
        "committing",
        "fetching",
        known(commit_wanted=True, local=A, commit_note="nothing to commit"),
        id="nothing-to-commit",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "fetch_failed",
        known(round=1, fetch_failure="timed out", local=A),
        id="fetch-failed",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "in_sync",
        known(round=1, local=A, remote_tip=A, base=A),
        id="same-commit",
    ),
    pytest.param("fetched", "fetching", "in_sync", known(round=1), id="no-commits-anywhere"),
    pytest.param(
        "fetched",
        "fetching",
        "blocked",
        known(round=1, local=A, last_seen=B),
        id="deleted-on-the-remote",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "in_sync",
        known(round=1, last_seen=B),
        id="deleted-on-the-remote-unborn-locally",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "fast_forwarding",
        known(round=1, local=A, remote_tip=B, base=A, behind=2),
        id="behind",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "fast_forwarding",
        known(round=1, remote_tip=B, base=B, behind=3),
        id="unborn-locally",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "pushing",
        known(round=1, local=B, remote_tip=A, base=A, ahead=1),
        id="ahead",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "pushing",
        known(round=1, local=A, base=A, ahead=4),
        id="absent-on-the-remote",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "pushing",
        known(round=1, local=A, base=A, ahead=4, last_seen=None),
        id="never-on-the-remote",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "escaping",
        known(round=1, local=A, remote_tip=B, ahead=2, behind=1),
        id="unrelated-histories",
    ),
    pytest.param(
        "fetched",
        "fetching",
        "rebasing",
        known(round=1, local=A, remote_tip=B, base=C, ahead=1, behind=1),
        id="diverged",
    ),
    pytest.param(
        "moved",
        "fast_forwarding",
        "blocked",
        known(move_error="uncommitted changes would be overwritten: data.txt"),
        id="fast-forward-refused",
    ),
    pytest.param("moved", "fast_forwarding", "fast_forwarded", known(local=B), id="fast-forward"),
    pytest.param(
        "replayed",
        "rebasing",
        "escaping",
        known(replay_refused="a local commit conflicts", conflict_paths=("data.txt",)),
        id="replay-conflicted",
    ),
    pytest.param(
        "replayed",
        "rebasing",
        "escaping",
        known(replay_refused="local history has a merge commit"),
        id="merge-refused",
    ),
    pytest.param(
        "replayed",
        "rebasing",
        "blocked",
        known(rebased=True, replayed=1, move_error="refs/heads/main moved during the run"),
        id="rebase-move-refused",
    ),
    pytest.param("replayed", "rebasing", "pushing", known(rebased=True, replayed=2), id="rebase"),
    pytest.param(
        "pushed", "pushing", "fetching", known(round=1, push=RACED), id="raced-fetch-again"
    ),
    pytest.param(
        "pushed",
        "pushing",
        "rebased",
        known(round=1, rebased=True, replayed=1, push=LANDED),
        id="rebase-pushed",
    ),
    pytest.param(
        "pushed",
        "pushing",
        "rebased",
        known(round=3, rebased=True, replayed=1, push=RACED),
        id="raced-no-rounds-left-rebased",
    ),
    pytest.param(
        "pushed",
        "pushing",
        "rebased",
        known(round=1, rebased=True, dropped=1, push=PushResult()),
        id="every-commit-dropped",
    ),
    pytest.param("pushed", "pushing", "pushed_ahead", known(round=1, push=LANDED), id="pushed"),
    pytest.param(
        "pushed",
        "pushing",
        "pushed_ahead",
        known(round=3, push=RACED),
        id="raced-no-rounds-left",
    ),
    pytest.param(
        "pushed",
        "pushing",
        "pushed_ahead",
        known(round=1, push=PROTECTED),
        id="refused-for-good",
    ),
    pytest.param(
        "escaped",
        "escaping",
        "blocked",
        known(move_error="no free name for the conflict branch"),
        id="escape-refused",
    ),
    pytest.param(
        "escaped",
        "escaping",
        "conflict_escaped",
        known(conflict_branch="conflicts/2026-12-01T09-30-00Z", push=LANDED),
        id="escaped",
    ),
]

MACHINE = build_machine()  # one machine, a model bound per case: as reconcile() does


@pytest.mark.parametrize(("trigger", "source", "dest", "facts"), CASES)
def test_row(trigger: str, source: str, dest: str, facts: Facts) -> None:
    """From the source state, with these facts, the trigger leads to the destination,
    and entering it runs the step the table names there (an outcome runs none)."""
    model = FakeSteps(facts)
    MACHINE.add_model(model, initial=source)
    try:
        assert NEXT[source] == trigger
        model.trigger(trigger)
    finally:
        MACHINE.remove_model(model)
    assert model.state == dest
    assert model.ran == ([STEP_OF[dest]] if dest in STEP_OF else [])


def test_every_row_has_a_case() -> None:
    """A row added to the table without a case here fails."""
    rows = {(trigger, source, dest) for trigger, source, dest, _conditions in TRANSITIONS}
    cases = {tuple(case.values[:3]) for case in CASES}
    assert cases == rows


def test_conditions_are_the_facts_predicates() -> None:
    """Every condition the table names is a predicate of Facts, which the model asks."""
    names = {name for *_row, conditions in TRANSITIONS for name in conditions}
    for case in CASES:
        facts = cast(Facts, case.values[3])
        model = FakeSteps(facts)
        for name in names:
            assert getattr(model, name)() is getattr(facts, name)()


def test_steps_are_bound_by_the_table_only() -> None:
    """Each step's method is the one its state names; none is named on_enter_<state>."""
    for step in STEPS:
        assert callable(getattr(Steps, step["on_enter"]))
    assert [name for name in dir(Steps) if name.startswith(("on_enter_", "on_exit_"))] == []


def test_a_run_goes_through_the_steps_the_rows_pick() -> None:
    """Driven from the start, a run with a diverged branch inspects, fetches, rebases,
    pushes and ends rebased."""
    finds: dict[str, Callable[[Facts], Facts]] = {
        "fetch": lambda f: replace(f, round=1, remote_tip=B, base=C, ahead=1, behind=1),
        "rebase": lambda f: replace(f, rebased=True, replayed=1, local=D),
        "push": lambda f: replace(f, push=LANDED),
    }
    model = FakeSteps(known(local=A), finds=finds)
    _drive(cast(Steps, model))
    assert model.ran == ["inspect", "fetch", "rebase", "push"]
    assert model.state == "rebased"


def test_a_commit_run_commits_after_inspecting_and_before_fetching() -> None:
    """Asked to commit, a run inspects, commits, then fetches and pushes the new
    commit; the same run not asked to commit never enters the committing step."""
    finds: dict[str, Callable[[Facts], Facts]] = {
        "commit": lambda f: replace(f, local=B, commit=COMMITTED),
        "fetch": lambda f: replace(f, round=1, remote_tip=A, base=A, ahead=1),
        "push": lambda f: replace(f, push=LANDED),
    }
    asked = FakeSteps(known(local=A, commit_wanted=True), finds=finds)
    _drive(cast(Steps, asked))
    assert asked.ran == ["inspect", "commit", "fetch", "push"]
    assert asked.state == "pushed_ahead"
    plain = FakeSteps(known(local=A), finds={"fetch": lambda f: replace(f, round=1, remote_tip=A)})
    _drive(cast(Steps, plain))
    assert plain.ran == ["inspect", "fetch"]
    assert plain.state == "in_sync"


def test_a_refused_commit_fetches_nothing() -> None:
    """A commit the step refuses ends the run blocked before the remote is read."""
    finds: dict[str, Callable[[Facts], Facts]] = {
        "commit": lambda f: replace(f, commit_refusal="the pre-commit hook failed"),
    }
    model = FakeSteps(known(local=A, commit_wanted=True), finds=finds)
    _drive(cast(Steps, model))
    assert model.ran == ["inspect", "commit"]
    assert model.state == "blocked"


def test_a_raced_push_fetches_again_until_no_rounds_are_left() -> None:
    """A push the remote keeps racing fetches again, up to max_rounds, then ends
    pushed-ahead with the push refused."""
    finds: dict[str, Callable[[Facts], Facts]] = {
        "fetch": lambda f: replace(f, round=f.round + 1, remote_tip=A, base=A, ahead=1),
        "push": lambda f: replace(f, push=RACED),
    }
    model = FakeSteps(known(local=B), finds=finds)
    _drive(cast(Steps, model))
    assert model.ran == ["inspect"] + ["fetch", "push"] * 3
    assert model.state == "pushed_ahead"
    assert model.state in TERMINAL


@pytest.mark.parametrize("failing", list(STEP_OF.values()))
def test_a_step_that_meets_an_unexpected_error_ends_blocked(failing: str) -> None:
    """The one edge outside the table: a ReconcileError from any step ends the run
    blocked, with the step and the error in the facts."""
    states = {step["on_enter"]: step["name"] for step in STEPS}
    facts = {
        "inspect": known(),
        "commit": known(commit_wanted=True),
        "fetch": known(),
        "fast_forward": known(local=A, remote_tip=B, base=A, behind=1),
        "rebase": known(local=A, remote_tip=B, base=C, ahead=1, behind=1),
        "push": known(local=B, remote_tip=A, base=A, ahead=1),
        "escape": known(local=A, remote_tip=B, ahead=1, behind=1),
    }[failing]
    model = FakeSteps(facts, fails_in=failing)
    _drive(cast(Steps, model))
    assert model.state == "blocked"
    assert model.ran[-1] == failing
    assert model.facts.unsafe == f"stopped at {states[failing]}: a ref name git refuses"
