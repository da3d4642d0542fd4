"""The reconcile state machine, as a table. Nothing else lives here.

Each step is a state whose ``on_enter`` names the model's method that does the
step's git work (through the git layer) and records what it found in the run's
facts; nothing is bound by transitions' ``on_enter_<state>`` naming convention.
The trigger that leaves the step then picks the first row whose conditions hold;
conditions are the model's predicates over those facts (``Facts`` answers them).
``start`` is where a run stands before its first step, and does no work; the
outcomes are the terminal states.

One edge is not in the table. A step that meets a ``ReconcileError`` the steps do
not expect (a ref name git refuses, a credential file that vanished) ends the run
in ``blocked``, from whichever step it was in. Nothing was written half-way (refs
move by compare-and-swap), so stopping there is safe; ``reconcile()`` takes that
edge, and records why in the facts.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine

__all__ = [
    "BLOCKED",
    "INITIAL",
    "NEXT",
    "STATES",
    "STEPS",
    "TERMINAL",
    "TRANSITIONS",
    "build_machine",
]

INITIAL = "start"

# Steps: each does one piece of work on entry, in the model method it names.
STEPS: list[dict[str, str]] = [
    {"name": "inspecting", "on_enter": "inspect"},
    {"name": "committing", "on_enter": "commit"},
    {"name": "fetching", "on_enter": "fetch"},
    {"name": "fast_forwarding", "on_enter": "fast_forward"},
    {"name": "rebasing", "on_enter": "rebase"},
    {"name": "pushing", "on_enter": "push"},
    {"name": "escaping", "on_enter": "escape"},
]

# Outcomes: the names of Outcome, with '_' for '-'.
TERMINAL = [
    "in_sync",
    "fast_forwarded",
    "pushed_ahead",
    "rebased",
    "conflict_escaped",
    "fetch_failed",
    "blocked",
]
BLOCKED = "blocked"  # also where a step's unexpected ReconcileError ends the run

STATES = [INITIAL, *(step["name"] for step in STEPS), *TERMINAL]

# trigger, source, dest, conditions (all must hold); the first matching row wins.
TRANSITIONS: list[tuple[str, str, str, list[str]]] = [
    ("begin", "start", "inspecting", []),
    ("inspected", "inspecting", "blocked", ["local_unsafe"]),
    ("inspected", "inspecting", "committing", ["commit_requested"]),
    ("inspected", "inspecting", "fetching", []),
    ("committed", "committing", "blocked", ["commit_refused"]),
    ("committed", "committing", "fetching", []),
    ("fetched", "fetching", "fetch_failed", ["fetch_error"]),
    ("fetched", "fetching", "in_sync", ["same_commit"]),
    ("fetched", "fetching", "blocked", ["remote_branch_deleted"]),
    ("fetched", "fetching", "fast_forwarding", ["local_behind"]),
    ("fetched", "fetching", "pushing", ["local_ahead"]),
    ("fetched", "fetching", "escaping", ["no_common_history"]),
    ("fetched", "fetching", "rebasing", []),
    ("moved", "fast_forwarding", "blocked", ["move_refused"]),
    ("moved", "fast_forwarding", "fast_forwarded", []),
    ("replayed", "rebasing", "escaping", ["replay_conflicted"]),
    ("replayed", "rebasing", "blocked", ["move_refused"]),
    ("replayed", "rebasing", "pushing", []),
    ("pushed", "pushing", "fetching", ["push_raced", "rounds_left"]),
    ("pushed", "pushing", "rebased", ["commits_replayed"]),
    ("pushed", "pushing", "pushed_ahead", []),
    ("escaped", "escaping", "blocked", ["move_refused"]),
    ("escaped", "escaping", "conflict_escaped", []),
]

# The trigger that leaves each state that is not an outcome: the table has one each.
NEXT = {source: trigger for trigger, source, _dest, _conditions in TRANSITIONS}


def build_machine(
    model: Any = None, machine_class: type[Machine] = Machine, **kwargs: Any
) -> Machine:
    """The table as a machine, bound to ``model`` (None: to none; a run drives its
    model through the machine's events). ``machine_class`` may be a GraphMachine."""
    return machine_class(
        model=model,
        states=[INITIAL, *STEPS, *TERMINAL],
        transitions=[
            {"trigger": trigger, "source": source, "dest": dest, "conditions": conditions}
            for trigger, source, dest, conditions in TRANSITIONS
        ],
        initial=INITIAL,
        auto_transitions=False,
        ignore_invalid_triggers=False,
        **kwargs,
    )
