"""The reconcile state machine, as a table. Nothing else lives here.

Each non-terminal state is a step whose callback (``on_enter_<state>`` on the
model) does git work through the git layer and records facts. The trigger that
leaves the state then picks the first row whose conditions hold; conditions are
pure predicates over those facts. Terminal states are the outcomes.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine

__all__ = ["INITIAL", "STATES", "TERMINAL", "TRANSITIONS", "build_machine"]

INITIAL = "start"

# Steps: each does one piece of work on entry.
STEPS = ["start", "inspecting", "fetching", "fast_forwarding", "rebasing", "pushing", "escaping"]

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

STATES = STEPS + TERMINAL

# trigger, source, dest, conditions (all must hold); the first matching row wins.
TRANSITIONS: list[tuple[str, str, str, list[str]]] = [
    ("begin", "start", "inspecting", []),
    ("inspected", "inspecting", "blocked", ["local_unsafe"]),
    ("inspected", "inspecting", "fetching", []),
    ("fetched", "fetching", "fetch_failed", ["fetch_error"]),
    ("fetched", "fetching", "in_sync", ["same_commit"]),
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


def build_machine(model: Any, machine_class: type[Machine] = Machine, **kwargs: Any) -> Machine:
    """Bind the table to ``model``; ``machine_class`` may be a GraphMachine."""
    return machine_class(
        model=model,
        states=STATES,
        transitions=[
            {"trigger": trigger, "source": source, "dest": dest, "conditions": conditions}
            for trigger, source, dest, conditions in TRANSITIONS
        ],
        initial=INITIAL,
        auto_transitions=False,
        ignore_invalid_triggers=False,
        **kwargs,
    )
