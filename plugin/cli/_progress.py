"""A progress bar for ``git-reconcile run`` on a terminal (rich), fed by the library's
progress reports."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from reconcile import Progress

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows objects and bytes of each fetch or push on stderr; nothing for a no-op run.

    The bar appears only once a transfer reports, so an in-sync run prints no bar.
    """

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("objects"),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks:
            self._bar.stop()

    def update(self, progress: Progress) -> None:
        task = self._tasks.get(progress.operation)
        if task is None:
            if not self._tasks:
                self._bar.start()
            task = self._bar.add_task(progress.operation, total=None)
            self._tasks[progress.operation] = task
        self._bar.update(
            task,
            completed=progress.objects,
            total=progress.total_objects or None,
            description=f"{progress.operation} ({progress.bytes / 1_048_576:.1f} MiB)",
        )
