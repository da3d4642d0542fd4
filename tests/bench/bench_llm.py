"""Benchmark: how long a commit waits for its message.

    python tests/bench/bench_llm.py [--runs 15] [--slow-runs 5]

A working tree with one commit has 10 of its files changed (a few lines each); the
commit the run would make is computed by ``preview_commit`` (the committing step
up to its message: every guard, then the message; nothing written), with:

- the template (no generator);
- the LLM generator against the tests' OpenAI-compatible server on loopback,
  answering at once (what is measured is the generator's own cost: the prompt,
  its filtering and redaction, the HTTP round trip, the answer cleaned);
- the same server answering after 5 s, past the generator's ``timeout`` (2 s here,
  10 s by default): each commit waits the whole timeout, then the template writes;
- that slow server once the circuit breaker has opened: the endpoint is skipped.

"message wait" is the time spent inside the generator (zero for the template),
"step" the whole preview. Medians. Writes tests/bench/results/llm.md and prints it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))
sys.path.append(str(HERE))

from bench_vs_git import machine, ms  # noqa: E402
from gitutil import git, isolate_git_config  # noqa: E402
from servers.chat import Answer, chat_server  # noqa: E402

from reconcile import (  # noqa: E402
    CircuitBreaker,
    CommitPolicy,
    LLMConfig,
    LLMGenerator,
    MessageContext,
    RepoSpec,
    preview_commit,
)

RESULTS = HERE / "results" / "llm.md"
CHANGED = 10
SLOW_TIMEOUT = 2.0
SLOW_DELAY = 5.0


def log(message: str) -> None:
    print(f"[bench_llm] {message}", file=sys.stderr, flush=True)


@dataclass
class Timed:
    """A generator wrapped to time its calls."""

    inner: LLMGenerator
    spent: float = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    def generate(self, context: MessageContext) -> str | None:
        started = time.perf_counter()
        try:
            return self.inner.generate(context)
        finally:
            self.spent = time.perf_counter() - started


def build(root: Path) -> Path:
    tree = root / "tree"
    git(root, "init", "-q", "-b", "main", str(tree))
    for n in range(CHANGED):
        (tree / f"file{n}.txt").write_text("".join(f"line {i}\n" for i in range(40)))
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "seed")
    git(tree, "remote", "add", "origin", str(root / "nowhere.git"))
    for n in range(CHANGED):
        lines = [f"line {i}" + (" changed" if i % 10 == 3 else "") for i in range(40)]
        (tree / f"file{n}.txt").write_text("\n".join(lines) + "\n")
    return tree


@dataclass
class Row:
    name: str
    source: str
    steps: list[float]
    waits: list[float]


def measure(tree: Path, name: str, runs: int, make: Callable[[], Timed | None], expect: str) -> Row:
    steps: list[float] = []
    waits: list[float] = []
    source = ""
    for _ in range(runs):
        generator = make()
        spec = RepoSpec(tree, commit_policy=CommitPolicy(generator=generator))
        started = time.perf_counter()
        preview = preview_commit(spec)
        steps.append(time.perf_counter() - started)
        waits.append(generator.spent if generator is not None else 0.0)
        source = preview.message_source + (
            f" ({preview.message_skipped})" if preview.message_skipped else ""
        )
        assert preview.message_source.startswith(expect), source
    log(f"{name}: step {ms(statistics.median(steps) * 1000)}")
    return Row(name, source, steps, waits)


@contextmanager
def servers() -> Iterator[tuple[str, str]]:
    with chat_server() as fast, chat_server() as slow:
        slow.default = Answer(delay=SLOW_DELAY)
        yield fast.base_url, slow.base_url


def run(runs: int, slow_runs: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as scratch, servers() as (fast, slow):
        root = Path(scratch)
        isolate_git_config(root / "home")
        tree = build(root)
        preview_commit(RepoSpec(tree))  # warm-up: imports, the secret detectors

        def generator(url: str, timeout: float = 10.0) -> Timed:
            config = LLMConfig(url, "test-model", timeout=timeout)
            return Timed(LLMGenerator(config, breaker=CircuitBreaker()))

        open_breaker = CircuitBreaker(failures=1, cool_down=3600)
        open_breaker.failed()
        skipped = LLMConfig(slow, "test-model", timeout=SLOW_TIMEOUT)
        rows = [
            measure(tree, "template", runs, lambda: None, "template"),
            measure(
                tree, "local endpoint, answering at once", runs, lambda: generator(fast), "llm"
            ),
            measure(
                tree,
                f"endpoint answering after {SLOW_DELAY:g} s (timeout {SLOW_TIMEOUT:g} s)",
                slow_runs,
                lambda: generator(slow, SLOW_TIMEOUT),
                "template",
            ),
            measure(
                tree,
                "that slow endpoint, breaker open",
                runs,
                lambda: Timed(LLMGenerator(skipped, breaker=open_breaker)),
                "template",
            ),
        ]
    return rows


def report(rows: list[Row], runs: int, slow_runs: int, seconds: float) -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "# How long a commit waits for its message",
        "",
        f"Produced by `python tests/bench/bench_llm.py --runs {runs} --slow-runs {slow_runs}` "
        f"on {time.strftime('%Y-%m-%d', time.gmtime())} at commit {head}, in "
        f"{seconds / 60:.1f} minutes. {machine()}.",
        "",
        f"{CHANGED} changed files (4 changed lines each) in a small tree; `preview_commit` "
        "(the committing step up to its message, nothing written). The endpoint is the "
        "tests' OpenAI-compatible server on loopback (Starlette under uvicorn), so the model "
        "itself costs nothing here: with a real model add its generation time, up to the "
        "timeout. Medians; the slow row of "
        f"{slow_runs} runs, the others of {runs}.",
        "",
        "| message from | message wait | whole step | message source |",
        "|---|---|---|---|",
    ]
    for row in rows:
        wait = statistics.median(row.waits) * 1000
        step = statistics.median(row.steps) * 1000
        lines.append(f"| {row.name} | {ms(wait)} | {ms(step)} | {row.source} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--slow-runs", type=int, default=5)
    args = parser.parse_args()
    started = time.monotonic()
    rows = run(args.runs, args.slow_runs)
    text = report(rows, args.runs, args.slow_runs, time.monotonic() - started)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
