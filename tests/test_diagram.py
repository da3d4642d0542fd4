"""The README's state diagram is the one generated from the table."""

from __future__ import annotations

from pathlib import Path

from plugin.cli._diagram import BEGIN, END, readme_with_diagram
from reconcile import Outcome, state_diagram
from reconcile._machine import STATES, TERMINAL, TRANSITIONS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_diagram_is_current() -> None:
    """The diagram in README.md equals the generated one.

    Fix with: git-reconcile diagram --write README.md
    """
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text
    assert END in text
    assert readme_with_diagram(text) == text


def test_diagram_has_every_row_and_outcome() -> None:
    """Every state and every row of the table appears in the diagram."""
    diagram = state_diagram()
    for state in STATES:
        assert f'state "{state}" as {state}' in diagram
    for trigger, source, dest, _conditions in TRANSITIONS:
        assert f"{source} --> {dest}: {trigger}" in diagram
    for state in TERMINAL:
        assert f"{state} --> [*]" in diagram


def test_every_outcome_is_a_terminal_state() -> None:
    """The terminal states are exactly the seven outcomes."""

    assert sorted(TERMINAL) == sorted(o.value.replace("-", "_") for o in Outcome)


def test_every_step_has_exactly_one_trigger_and_a_default_row() -> None:
    """Each step leaves by one trigger, and its last row has no condition, so a run never stalls."""
    sources = {source for _t, source, _d, _c in TRANSITIONS}
    assert sources == set(STATES) - set(TERMINAL)
    for source in sources:
        rows = [row for row in TRANSITIONS if row[1] == source]
        assert len({trigger for trigger, *_ in rows}) == 1
        assert rows[-1][3] == []
        assert all(row[3] for row in rows[:-1])
