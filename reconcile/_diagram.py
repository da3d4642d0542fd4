"""The mermaid diagram of the state table, generated from the table itself."""

from __future__ import annotations

from transitions.extensions import GraphMachine

from ._machine import TERMINAL, build_machine

__all__ = ["state_diagram"]


class _Model:
    """A model with no behaviour: the diagram needs the table only."""


def state_diagram() -> str:
    """The state machine of a run as a mermaid diagram, drawn from the table itself
    (the README shows it)."""
    model = _Model()
    build_machine(
        model, GraphMachine, graph_engine="mermaid", show_conditions=True, title="git-reconcile run"
    )
    graph = model.get_graph()  # type: ignore[attr-defined]
    text: str = graph.draw(None)
    # Drop the highlight styling (it marks the model's current state, which means
    # nothing in a document) and mark the outcomes as final states.
    lines = [
        line.rstrip()
        for line in text.strip().splitlines()
        if not line.strip().startswith(("classDef ", "Class "))
    ]
    lines += [f"  {state} --> [*]" for state in TERMINAL]
    return "\n".join(lines) + "\n"
