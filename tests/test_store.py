"""The audit store on real SQLite files and a real PostgreSQL 15 server."""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from builders import run_record
from gitutil import World, git
from servers.httpgit import HTTPGitServer
from servers.pg import postgres_server, postgres_url  # noqa: F401  (fixtures)
from sqlmodel import Session, select

import migrations
from plugin import ForeignMigrations, HookRun, RunRecord
from plugin.audit import (
    AUDIT_METADATA,
    VERSION_TABLE,
    AuditStore,
    DuplicateRunError,
    GitOperation,
    ReconcileRun,
    WebhookDelivery,
    migrations_directory,
)
from plugin.audit._rows import operation_rows, run_row
from reconcile import CommitInfo, Identity, Outcome, Result, reconcile

ROOT = Path(__file__).resolve().parent.parent
SECRET = "ghs_s3cretT0kenValue"
T0 = time.time() - 10_000.0  # runs of the tests finish at T0 + n seconds


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'audit.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[AuditStore]:
    """An audit store on a fresh database, migrated to the newest revision."""
    audit = AuditStore(db_url)
    audit.upgrade()
    yield audit
    audit.close()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[Outcome, Result]:
    """Real results of the engine: fast-forwarded, pushed-ahead and in-sync runs."""
    world = World(tmp_path_factory.mktemp("results"))
    world.seed()
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote writer")
    forwarded = reconcile(world.spec(app))
    world.commit(app, {"mine.txt": "local\n"}, "local writer")
    pushed = reconcile(world.spec(app))
    in_sync = reconcile(world.spec(app))
    found = {r.outcome: r for r in (forwarded, pushed, in_sync)}
    assert set(found) == {Outcome.FAST_FORWARDED, Outcome.PUSHED_AHEAD, Outcome.IN_SYNC}
    assert [op.kind for op in pushed.operations] == ["fetch", "push"]
    return found


def _record(
    n: int,
    result: Result | None,
    *,
    repo: str = "data",
    triggers: tuple[str, ...] = ("webhook",),
    error: str | None = None,
    callback_error: str | None = None,
    run_id: str | None = None,
) -> RunRecord:
    """A finished run record: queued at T0+n-0.5, started at T0+n-0.25, done at T0+n."""
    return run_record(
        result,
        repo=repo,
        run_id=run_id or f"{repo}-{n}",
        triggers=triggers,
        finished=T0 + n,
        error=error,
        callback_error=callback_error,
        lock_wait=0.125,
    )


def _same(found: dict[str, Any], record: RunRecord) -> None:
    """``found`` (from history()) is ``record.to_dict()``: the same keys and values,
    times to the microsecond the database keeps."""
    expected = record.to_dict()
    for key in ("queued_at", "started_at", "finished_at"):
        expected[key] = pytest.approx(expected[key], abs=1e-5)
    if expected["result"] is not None:
        for op in expected["result"]["operations"]:
            op["started_at"] = pytest.approx(op["started_at"], abs=1e-5)
    assert found == expected


def _all_text(store: AuditStore) -> list[str]:
    """Every value of every table of the database (not only ours), as text."""
    out: list[str] = []
    with store.engine.connect() as connection:
        meta = sa.MetaData()
        meta.reflect(connection)
        for table in meta.sorted_tables:
            for row in connection.execute(sa.select(table)):
                out.extend(f"{table.name}: {value!r}" for value in row)
    return out


def _ours_only(name: str | None, type_: str, parent_names: object) -> bool:
    """Compare the audit tables only, as migrations/env.py does."""
    return type_ != "table" or name in AUDIT_METADATA.tables


def _diff(connection: sa.Connection) -> list[Any]:
    """Alembic's autogenerate diff between the audit models and the database."""
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "version_table": VERSION_TABLE, "include_name": _ours_only},
    )
    return list(compare_metadata(context, AUDIT_METADATA))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


# --- schema and migrations -------------------------------------------------------------


def test_migrations_and_models_agree(db_url: str) -> None:
    """A fresh database upgraded to head has exactly the models' schema, and a host's own
    tables and Alembic history in the same database are left alone."""
    store = AuditStore(db_url)  # (creates the SQLite file's directory)
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE host_things (id INTEGER PRIMARY KEY)"))
        connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(sa.text("INSERT INTO alembic_version VALUES ('hosts-own')"))
    try:
        store.upgrade()
        store.upgrade()  # a second upgrade (a restart) is a no-op
        with store.engine.connect() as connection:
            diff = _diff(connection)
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            tables = set(sa.inspect(connection).get_table_names())
            host_version = connection.execute(sa.text("SELECT * FROM alembic_version")).all()
            head = ScriptDirectory.from_config(store.alembic_config()).get_current_head()
            assert context.get_current_revision() == head
        assert diff == []
        assert tables == {
            "host_things",
            "alembic_version",
            VERSION_TABLE,
            "reconcile_run",
            "reconcile_git_operation",
            "reconcile_commit",
            "reconcile_webhook_delivery",
            "reconcile_fleet_cycle",
            "reconcile_fleet_repo",
        }
        assert host_version == [("hosts-own",)]
        # env.py's own path, from the URL alone, with its table filter: nothing to do.
        command.check(store.alembic_config())
    finally:
        store.close()
        engine.dispose()


def test_replicas_upgrading_at_once_all_succeed(db_url: str) -> None:
    """Several stores upgrading the same fresh database at the same moment (replicas
    starting together) all succeed, and the schema is made once."""
    stores = [AuditStore(db_url) for _ in range(4)]
    start = threading.Barrier(len(stores))

    def upgrade(store: AuditStore) -> None:
        start.wait()
        store.upgrade()

    try:
        with ThreadPoolExecutor(max_workers=len(stores)) as pool:
            list(pool.map(upgrade, stores))
        with stores[0].engine.connect() as connection:
            assert _diff(connection) == []
            versions = connection.execute(sa.text(f"SELECT * FROM {VERSION_TABLE}")).all()
        assert len(versions) == 1
    finally:
        for store in stores:
            store.close()


def test_the_comparison_sees_a_drift(tmp_path: Path) -> None:
    """The models-versus-database check above is not vacuous: a missing index shows."""
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        store.upgrade()
        with store.engine.begin() as connection:
            assert _diff(connection) == []
            connection.execute(sa.text("DROP INDEX ix_reconcile_run_repo_finished_at"))
            diff = _diff(connection)
        assert [d[0] for d in diff] == ["add_index"]
    finally:
        store.close()


def test_delivery_dedupe_index_is_partial_on_verified(store: AuditStore) -> None:
    """Both databases got the partial unique index that lets only verified deliveries
    claim an id (Alembic does not compare WHERE clauses, so this checks it)."""
    with store.engine.connect() as connection:
        indexes = {
            ix["name"]: ix
            for ix in sa.inspect(connection).get_indexes("reconcile_webhook_delivery")
        }
    partial = indexes["uq_reconcile_webhook_delivery_provider_delivery_id"]
    assert partial["unique"]
    assert partial["column_names"] == ["provider", "delivery_id"]
    where = partial["dialect_options"][f"{store.dialect}_where"]
    assert "verified" in str(where)


def test_migrations_are_found_from_the_package_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """upgrade() finds the migrations next to the installed package, whatever the
    current directory is."""
    monkeypatch.chdir(tmp_path)
    assert migrations.__file__ is not None
    assert migrations_directory() == Path(migrations.__file__).resolve().parent
    assert (migrations_directory() / "script.py.mako").is_file()
    store = AuditStore(f"sqlite:///{tmp_path / 'elsewhere' / 'audit.db'}")
    try:
        store.upgrade()
        assert store.count_runs() == 0
    finally:
        store.close()


def test_autogenerate_writes_plain_sqlalchemy_types(tmp_path: Path) -> None:
    """A revision autogenerated from the models (as the next one will be) imports
    neither sqlmodel nor the plugin and creates every table of the models."""
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    try:
        config = store.alembic_config()
        config.set_main_option("version_locations", str(drafts))
        command.revision(
            config, "draft", autogenerate=True, rev_id="draft", version_path=str(drafts)
        )
    finally:
        store.close()
    [draft] = drafts.glob("draft_*.py")
    source = draft.read_text()
    assert "sqlmodel" not in source
    assert "plugin" not in source
    assert "sa.DateTime(timezone=True)" in source
    for table in AUDIT_METADATA.tables:
        assert f"op.create_table('{table}'" in source


def test_a_foreign_migrations_package_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another project's top-level ``migrations`` package shadowing ours is refused
    instead of having its env.py run against the audit database."""
    foreign = tmp_path / "migrations"
    foreign.mkdir()
    (foreign / "__init__.py").write_text("")
    monkeypatch.delitem(sys.modules, "migrations")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ForeignMigrations, match="not git-reconcile's"):
        migrations_directory()


def test_migrations_import_only_the_audit_models() -> None:
    """env.py imports the audit models module and nothing else of the project; the
    models import only SQLAlchemy and SQLModel; the revisions only Alembic and
    SQLAlchemy; the audit store no web stack."""
    project = {"plugin", "reconcile", "webhooks", "migrations"}
    env = _imports(ROOT / "migrations" / "env.py")
    assert {name for name in env if name.split(".")[0] in project} == {"migrations.models"}
    models = {n.split(".")[0] for n in _imports(ROOT / "migrations" / "models.py")}
    assert models - set(sys.stdlib_module_names) == {"sqlalchemy", "sqlmodel"}
    for revision in (ROOT / "migrations" / "versions").glob("*.py"):
        third_party = {
            n.split(".")[0]
            for n in _imports(revision)
            if n.split(".")[0] not in sys.stdlib_module_names
        }
        assert third_party <= {"alembic", "sqlalchemy", "__future__"}, revision
    audit = ROOT / "plugin" / "audit"
    store_imports = {n.split(".")[0] for p in audit.glob("*.py") for n in _imports(p)}
    assert "migrations" in store_imports  # the store depends on the migrations' models
    assert not store_imports & {"starlette", "anyio", "uvicorn", "webhooks"}


def test_a_foreign_migrations_package_is_refused_at_import(tmp_path: Path) -> None:
    """With another project's ``migrations`` package (models and all) first on
    sys.path, importing the audit store fails saying so, instead of with a bare
    import error."""
    foreign = tmp_path / "migrations"
    foreign.mkdir()
    (foreign / "__init__.py").write_text("")
    (foreign / "models.py").write_text("THINGS = 'another project'\n")
    done = subprocess.run(
        [sys.executable, "-c", "import plugin.audit"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "is not git-reconcile's" in done.stderr
    assert str(foreign) in done.stderr


def _record_in_old_schema(store: AuditStore, record: RunRecord) -> None:
    """Store a run in a database at an older revision: the columns it has only."""
    assert record.result is not None
    with store.engine.begin() as connection:

        def insert(table: sa.Table, row: Any) -> Any:
            present = {c["name"] for c in sa.inspect(connection).get_columns(table.name)}
            values = {k: v for k, v in row.model_dump().items() if k in present and k != "id"}
            inserted = connection.execute(table.insert().values(**values)).inserted_primary_key
            assert inserted is not None
            return inserted[0]

        run_pk = insert(ReconcileRun.__table__, run_row(record))  # type: ignore[attr-defined]
        for operation in operation_rows(run_pk, record.result.operations):
            insert(GitOperation.__table__, operation)  # type: ignore[attr-defined]


def test_upgrading_from_the_first_revision_keeps_the_runs(
    db_url: str, results: dict[Outcome, Result]
) -> None:
    """A database at revision 0001 with runs in it upgrades to the newest revision
    (dropping the operations' never-filled commit column, adding the commits with
    their signature, the runs' replica and their hooks) and keeps every run and
    operation, with the schema the models describe; downgrading brings the column
    back."""
    store = AuditStore(db_url)
    try:
        store.upgrade("0001")
        _record_in_old_schema(store, _record(1, results[Outcome.PUSHED_AHEAD]))
        _record_in_old_schema(store, _record(2, results[Outcome.IN_SYNC]))
        store.upgrade()
        with store.engine.connect() as connection:
            assert _diff(connection) == []
            columns = sa.inspect(connection).get_columns("reconcile_git_operation")
        assert "commit" not in {c["name"] for c in columns}
        assert [len(r["result"]["operations"]) for r in store.history()] == [1, 2]
        command.downgrade(store.alembic_config(), "0001")
        with store.engine.connect() as connection:
            columns = sa.inspect(connection).get_columns("reconcile_git_operation")
        assert "commit" in {c["name"] for c in columns}
        assert store.count_runs() == 2
    finally:
        store.close()


# --- runs ------------------------------------------------------------------------------


def test_a_run_reads_back_as_it_was_recorded(
    store: AuditStore, results: dict[Outcome, Result]
) -> None:
    """A recorded run, its result and its git operations come back from history() shaped
    like RunRecord.to_dict()."""
    pushed = results[Outcome.PUSHED_AHEAD]
    record = _record(1, pushed, triggers=("poll", "webhook", "manual"))
    assert store.record_run(record) >= 1
    [found] = store.history()
    _same(found, record)
    [back] = store.runs()
    assert back.succeeded
    assert back.result is not None
    assert back.result.operations[0].url == pushed.operations[0].url
    assert found["triggers"] == ["poll", "webhook", "manual"]
    assert [op["kind"] for op in found["result"]["operations"]] == ["fetch", "push"]
    assert found["result"]["push"]["status"] == "ok"
    assert found["lock_wait_seconds"] == pytest.approx(0.125)


def test_a_runs_hook_is_kept_with_it(store: AuditStore, results: dict[Outcome, Result]) -> None:
    """What the exec_hook did after a run is stored with it and comes back from history()
    and runs(), its error and output masked; a run without a hook has none."""
    token = "https://ci:hook-5ecret-77@git.example.com/data.git"
    hooked = _record(1, results[Outcome.FAST_FORWARDED])
    hooked.hook = HookRun(
        status="timed-out",
        exit_code=None,
        duration_ms=512.25,
        error=f"killed after 0.5s pushing to {token}",
        output=f"deploying\ncloning {token}\n",
    )
    store.record_run(hooked)
    store.record_run(_record(2, results[Outcome.IN_SYNC]))
    second, first = store.history()
    assert second["hook"] is None
    assert first["hook"] == {
        "status": "timed-out",
        "exit_code": None,
        "duration_ms": 512.25,
        "error": "killed after 0.5s pushing to https://***@git.example.com/data.git",
        "output": "deploying\ncloning https://***@git.example.com/data.git\n",
    }
    back = {record.run_id: record for record in store.runs()}
    assert back["data-1"].hook is not None
    assert back["data-1"].hook.status == "timed-out"
    assert back["data-2"].hook is None
    assert [value for value in _all_text(store) if "hook-5ecret-77" in value] == []


def test_a_run_that_errored_has_no_result(store: AuditStore) -> None:
    """A run that ended in an error is stored with its error and without an outcome."""
    store.record_run(_record(1, None, error="repository locked by another process"))
    [found] = store.history()
    assert found["result"] is None
    assert found["error"] == "repository locked by another process"
    assert store.history(outcome="in-sync") == []


def test_history_filters_and_pages(store: AuditStore, results: dict[Outcome, Result]) -> None:
    """history() filters by repo, outcome and time, newest first, and pages with the
    run id of the last run as ``before``, without skipping or repeating a run."""
    kinds = [Outcome.FAST_FORWARDED, Outcome.PUSHED_AHEAD, Outcome.IN_SYNC]
    records = [
        _record(n, results[kinds[n % 3]], repo="data" if n % 2 else "docs") for n in range(1, 12)
    ]
    records.append(_record(12, None, repo="data", error="boom"))
    # Two runs finishing at the same moment are told apart by their row id.
    records.append(_record(12, results[Outcome.IN_SYNC], repo="docs", run_id="docs-12b"))
    for record in records:
        store.record_run(record)
    newest_first = sorted(
        records, key=lambda r: (r.finished_at or 0.0, records.index(r)), reverse=True
    )

    everything = store.history(limit=100)
    assert [r["run_id"] for r in everything] == [r.run_id for r in newest_first]
    for found, record in zip(everything, newest_first, strict=True):
        _same(found, record)

    pages: list[str] = []
    before: str | None = None
    while True:
        page = store.history(limit=3, before=before)
        if not page:
            break
        assert len(page) <= 3
        pages.extend(r["run_id"] for r in page)
        before = page[-1]["run_id"]
    assert pages == [r.run_id for r in newest_first]

    data = store.history(repo="data", limit=100)
    assert [r["run_id"] for r in data] == [r.run_id for r in newest_first if r.repo == "data"]
    in_sync = store.history(outcome=Outcome.IN_SYNC.value, limit=100)
    assert [r["run_id"] for r in in_sync] == [
        r.run_id
        for r in newest_first
        if r.result is not None and r.result.outcome is Outcome.IN_SYNC
    ]
    since = datetime.fromtimestamp(T0 + 10, UTC)
    recent = store.history(since=since, limit=100)
    assert [r["run_id"] for r in recent] == [
        r.run_id for r in newest_first if (r.finished_at or 0.0) >= T0 + 10
    ]
    # A cursor from another filter goes on after that run all the same.
    docs_page = store.history(repo="docs", limit=2, before=data[0]["run_id"])
    older = newest_first[[r.run_id for r in newest_first].index(data[0]["run_id"]) + 1 :]
    assert [r["run_id"] for r in docs_page] == [r.run_id for r in older if r.repo == "docs"][:2]
    assert store.history(before="data-pruned-long-ago") == []
    assert store.count_runs() == len(records)
    assert store.count_runs("docs") == sum(r.repo == "docs" for r in records)


def test_a_run_id_is_stored_once(store: AuditStore, results: dict[Outcome, Result]) -> None:
    """Recording the same run_id twice fails clearly and leaves the first run whole."""
    pushed = results[Outcome.PUSHED_AHEAD]
    store.record_run(_record(1, pushed))
    with pytest.raises(DuplicateRunError):
        store.record_run(_record(2, results[Outcome.IN_SYNC], run_id="data-1"))
    [found] = store.history()
    assert found["result"]["outcome"] == "pushed-ahead"
    assert len(found["result"]["operations"]) == 2


def test_timestamps_are_timezone_aware_utc(
    store: AuditStore, results: dict[Outcome, Result]
) -> None:
    """Times go in and come out as the same instants, and naive datetimes are refused."""
    store.record_run(_record(1, results[Outcome.IN_SYNC]))
    with store.engine.connect() as connection:
        table = AUDIT_METADATA.tables["reconcile_run"]
        [raw] = connection.execute(sa.select(table.c.finished_at)).all()
    if store.dialect == "postgresql":
        assert raw[0] == datetime.fromtimestamp(T0 + 1, UTC)
    with Session(store.engine) as session:
        run = session.exec(select(ReconcileRun)).one()
    assert run.finished_at.tzinfo is not None
    assert run.finished_at.utcoffset() == timedelta(0)
    assert run.finished_at.timestamp() == pytest.approx(T0 + 1, abs=1e-5)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.prune(datetime.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        store.history(since=datetime(2020, 1, 1))


# --- deliveries ------------------------------------------------------------------------


def test_delivery_dedupe_survives_a_restart(db_url: str) -> None:
    """A delivery id stored by one store is a duplicate for a new store on the same
    database, as after a restart; unverified deliveries never claim an id."""
    first = AuditStore(db_url)
    first.upgrade()
    args = ("github", "d-1", "data", "push", "refs/heads/main")
    try:
        # An unsigned request cannot burn the id of the genuine delivery.
        assert first.record_delivery(*args, False, "rejected")
        assert first.record_delivery(*args, False, "rejected")
        assert first.record_delivery(*args, True, "queued")
        assert not first.record_delivery(*args, True, "duplicate")
        assert first.record_delivery("gitlab", "d-1", None, "push", None, True, "queued")
        assert first.record_delivery("github", None, None, "push", None, True, "queued")
        assert first.record_delivery("github", None, None, "push", None, True, "queued")
    finally:
        first.close()

    restarted = AuditStore(db_url)
    restarted.upgrade()
    try:
        assert not restarted.record_delivery(*args, True, "queued")
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        assert restarted.seen_delivery("github", "d-1", hour_ago)
        assert not restarted.seen_delivery("github", "d-1", datetime.now(UTC) + timedelta(1))
        assert not restarted.seen_delivery("github", "d-2", hour_ago)
        assert not restarted.seen_delivery("github", None, hour_ago)
        assert not restarted.seen_delivery("bitbucket", "d-1", hour_ago)
    finally:
        restarted.close()


def test_a_delivery_older_than_the_window_can_be_delivered_again(store: AuditStore) -> None:
    """With ``since``, a claim older than the window is taken over (an operator's
    redelivery), a recent one is not."""
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    args = ("github", "guid-7", "data", "push", "refs/heads/main", True)
    assert store.record_delivery(*args, "queued", received_at=old)
    window = now - timedelta(hours=1)
    assert not store.seen_delivery("github", "guid-7", window)
    assert store.record_delivery(*args, "queued", since=window)
    assert store.seen_delivery("github", "guid-7", window)
    assert not store.record_delivery(*args, "queued", since=window)
    with store.engine.connect() as connection:
        table = AUDIT_METADATA.tables["reconcile_webhook_delivery"]
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1


def test_replicas_claiming_one_delivery_at_once_get_one_claim(db_url: str) -> None:
    """Of several replicas claiming a delivery id at the same moment exactly one gets a
    row, which then records the final result and repository; the others see a
    duplicate."""
    replicas = [AuditStore(db_url) for _ in range(4)]
    replicas[0].upgrade()
    start = threading.Barrier(len(replicas))
    window = datetime.now(UTC) - timedelta(hours=1)

    def claim(store: AuditStore) -> int | None:
        start.wait()
        return store.claim_delivery("github", "guid-9", "push", "refs/heads/main", window)

    try:
        with ThreadPoolExecutor(max_workers=len(replicas)) as pool:
            claims = list(pool.map(claim, replicas))
        [row] = [c for c in claims if c is not None]
        assert claims.count(None) == len(replicas) - 1
        replicas[1].settle_delivery(row, "queued", "data")
        with Session(replicas[2].engine) as session:
            [stored] = session.exec(select(WebhookDelivery)).all()
        assert (stored.id, stored.result, stored.repo, stored.verified) == (
            row,
            "queued",
            "data",
            True,
        )
        assert (stored.event, stored.ref) == ("push", "refs/heads/main")
    finally:
        for store in replicas:
            store.close()


def test_an_expired_claim_is_taken_over_once(store: AuditStore) -> None:
    """A claim older than the window is taken over by the next delivery of that id,
    which gets the same row back; a second one within the window is a duplicate."""
    old = datetime.now(UTC) - timedelta(hours=2)
    assert store.record_delivery(
        "github", "g", "data", "push", None, True, "queued", received_at=old
    )
    window = datetime.now(UTC) - timedelta(hours=1)
    row = store.claim_delivery("github", "g", "push", "refs/heads/main", window)
    assert row is not None
    assert store.claim_delivery("github", "g", "push", "refs/heads/main", window) is None
    with Session(store.engine) as session:
        [stored] = session.exec(select(WebhookDelivery)).all()
    assert (stored.id, stored.result, stored.repo) == (row, "received", None)


def _deliveries(store: AuditStore) -> list[tuple[Any, ...]]:
    with Session(store.engine) as session:
        rows = session.exec(select(WebhookDelivery).order_by(sa.column("id"))).all()
    return [(r.delivery_id, r.result, r.repo, r.verified) for r in rows]


def test_deliveries_recorded_together_answer_as_one_by_one(store: AuditStore) -> None:
    """A batch of verified deliveries, in one transaction, answers each as
    record_delivery would: new ids stored, ids stored already or earlier in the batch
    duplicates, deliveries without an id always stored, an old claim taken over."""
    now = datetime.now(UTC)
    window = now - timedelta(hours=1)
    assert store.record_delivery("github", "known", "data", "push", None, True, "present")
    old = now - timedelta(hours=2)
    assert store.record_delivery(
        "github", "old", None, "push", None, True, "queued", received_at=old
    )
    answers = store.record_deliveries(
        [
            ("github", "a", "data", "push", "refs/heads/main", "present"),
            ("github", "known", "data", "push", "refs/heads/main", "present"),
            ("github", "a", "data", "push", "refs/heads/main", "queued"),
            ("gitlab", "a", "data", "push", "refs/heads/main", "queued"),
            ("github", None, "data", "ping", None, "ignored"),
            ("github", "old", "data", "push", "refs/heads/main", "queued"),
        ],
        window,
    )
    assert answers == [True, False, False, True, True, True]
    assert _deliveries(store) == [
        ("known", "present", "data", True),
        ("old", "queued", "data", True),
        ("a", "present", "data", True),
        ("a", "queued", "data", True),
        (None, "ignored", "data", True),
    ]
    assert store.record_deliveries([("github", "a", None, "push", None, "present")], window) == [
        False
    ]


def test_deliveries_another_writer_stored_meanwhile_are_duplicates(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When an id of the batch is stored by another writer between the batch's read and
    its insert, nothing of the batch is half-written: each delivery is recorded on
    its own, and that one is a duplicate."""
    window = datetime.now(UTC) - timedelta(hours=1)
    # The other writer's row lands after the batch looked (so the batch did not see it).
    monkeypatch.setattr(
        AuditStore,
        "_stored_at",
        lambda self, session, deliveries: (
            self.record_delivery("github", "raced", None, "push", None, True, "present") and {}
        ),
    )
    answers = store.record_deliveries(
        [
            ("github", "mine", "data", "push", None, "queued"),
            ("github", "raced", "data", "push", None, "queued"),
        ],
        window,
    )
    assert answers == [True, False]
    assert _deliveries(store) == [
        ("raced", "present", None, True),
        ("mine", "queued", "data", True),
    ]


# --- concurrency, retention, secrets ---------------------------------------------------


def test_sqlite_wal_takes_concurrent_writers(
    tmp_path: Path, results: dict[Outcome, Result]
) -> None:
    """8 threads recording 25 runs each into one SQLite file all land, without a
    'database is locked'."""
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    store.upgrade()
    pushed = results[Outcome.PUSHED_AHEAD]
    start = threading.Barrier(8)

    def write(worker: int) -> int:
        start.wait()
        for n in range(25):
            store.record_run(_record(n, pushed, repo=f"repo{worker}"))
        return worker

    try:
        with store.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert sorted(pool.map(write, range(8))) == list(range(8))
        assert store.count_runs() == 200
        with store.engine.connect() as connection:
            ops = AUDIT_METADATA.tables["reconcile_git_operation"]
            total = connection.execute(sa.select(sa.func.count()).select_from(ops)).scalar()
        assert total == 200 * len(pushed.operations)
        assert {r["repo"] for r in store.history(limit=500)} == {f"repo{w}" for w in range(8)}
    finally:
        store.close()


def test_prune_removes_only_old_rows(store: AuditStore, results: dict[Outcome, Result]) -> None:
    """prune() deletes the runs, their operations and the deliveries older than the
    cutoff, and nothing newer."""
    pushed = results[Outcome.PUSHED_AHEAD]
    for n in range(1, 7):
        store.record_run(_record(n, pushed))
    cutoff = datetime.fromtimestamp(T0 + 4, UTC)
    before = cutoff - timedelta(seconds=1)
    store.record_delivery("github", "old", None, "push", None, True, "queued", received_at=before)
    store.record_delivery("github", "new", None, "push", None, True, "queued", received_at=cutoff)
    gone = store.prune(cutoff)
    assert gone == 3 * (1 + len(pushed.operations)) + 1
    assert [r["run_id"] for r in store.history()] == ["data-6", "data-5", "data-4"]
    assert all(len(r["result"]["operations"]) == 2 for r in store.history())
    with store.engine.connect() as connection:
        ops = AUDIT_METADATA.tables["reconcile_git_operation"]
        assert connection.execute(sa.select(sa.func.count()).select_from(ops)).scalar() == 6
    long_ago = cutoff - timedelta(days=1)
    assert not store.seen_delivery("github", "old", long_ago)
    assert store.seen_delivery("github", "new", long_ago)
    assert store.prune(cutoff) == 0


def test_no_secret_reaches_the_database(store: AuditStore, tmp_path: Path) -> None:
    """A run against a remote whose URL carries a token stores the URL masked, and the
    token is in no column of any table."""
    world = World(tmp_path)
    world.seed()
    with HTTPGitServer(tmp_path, username="x-access-token", password=SECRET) as server:
        app = world.clone("app")
        plain = server.url(world.remote)
        tokened = plain.replace("http://", f"http://x-access-token:{SECRET}@", 1)
        git(app, "remote", "set-url", "origin", tokened)
        world.commit(app, {"mine.txt": "local\n"}, "local writer")
        pushed = reconcile(world.spec(app))
        git(app, "remote", "set-url", "origin", tokened.replace(SECRET, SECRET + "-wrong"))
        refused = reconcile(world.spec(app))
    assert pushed.outcome is Outcome.PUSHED_AHEAD, pushed.reason
    assert refused.outcome is Outcome.FETCH_FAILED, refused.reason
    store.record_run(
        _record(
            1,
            pushed,
            callback_error=f"RuntimeError: could not notify {tokened}/hooks?token={SECRET}",
        )
    )
    store.record_run(_record(2, refused, error=f"cannot reach {tokened}"))
    store.record_delivery("github", "d-1", "data", "push", "refs/heads/main", True, "queued")

    dump = _all_text(store)
    assert [value for value in dump if SECRET in value] == []
    urls = [op["url"] for r in store.history() for op in r["result"]["operations"]]
    assert len(urls) == 3
    assert all(url.startswith("http://***@127.0.0.1:") for url in urls), urls
    assert any("http://***@127.0.0.1:" in value for value in dump)


# --- commits ---------------------------------------------------------------------------


def _committed(result: Result, author: str, source: str, n: int) -> Result:
    info = CommitInfo(
        sha=f"{n:040x}",
        paths=("a.txt", "b/c.txt"),
        message=f"Commit {n}\n",
        message_source=source,
        author=Identity.parse(author),
        committer=Identity("Data Sync", "sync@example.invalid"),
        signed=n % 2 == 0,
        signature="ssh" if n % 2 == 0 else None,
        message_skipped=None if n % 2 == 0 else "no answer within the timeout (10 s)",
    )
    return dataclasses.replace(result, commit=info, skipped_paths=(".env",))


def test_commits_are_stored_listed_and_counted(
    store: AuditStore, results: dict[Outcome, Result]
) -> None:
    """A run's commit is stored with it and read back with it; commits are listed
    newest first, by repository and time, and counted per repository, author, day
    (UTC) and message source by the database; pruning takes them with their runs."""
    pushed = results[Outcome.PUSHED_AHEAD]
    ada, grace = "Ada <ada@example.invalid>", "Grace <grace@example.invalid>"
    store.record_run(_record(1, _committed(pushed, ada, "template", 1)))
    store.record_run(_record(2, _committed(pushed, grace, "explicit", 2), repo="other"))
    store.record_run(_record(3, _committed(pushed, ada, "template", 3)))
    store.record_run(_record(4, results[Outcome.IN_SYNC]))
    listed = store.commits()
    assert [c.sha[-1] for c in listed] == ["3", "2", "1"]
    assert (listed[0].repo, listed[0].paths, listed[0].author) == (
        "data",
        ("a.txt", "b/c.txt"),
        ada,
    )
    assert [c.signed for c in listed] == [False, True, False]
    assert [c.to_dict()["signature"] for c in listed] == [None, "ssh", None]
    assert [c.sha[-1] for c in store.commits(repo="data", limit=1)] == ["3"]
    since = datetime.fromtimestamp(T0 + 2, UTC)
    assert [c.sha[-1] for c in store.commits(since=since)] == ["3", "2"]
    day = datetime.fromtimestamp(T0 + 1, UTC).strftime("%Y-%m-%d")
    counts = store.commit_statistics()
    assert counts["total"] == 3
    assert counts["per_repo"] == {"data": 2, "other": 1}
    assert counts["per_author"] == {ada: 2, grace: 1}
    assert sum(counts["per_day"].values()) == 3
    assert day in counts["per_day"]
    assert counts["per_message_source"] == {"explicit": 1, "template": 2}
    assert store.commit_statistics(repo="other")["per_author"] == {grace: 1}
    [run] = [r for r in store.runs() if r.run_id == "data-1"]
    assert run.result is not None
    assert run.result.commit is not None
    assert run.result.commit.message == "Commit 1\n"
    assert run.result.commit.message_skipped == "no answer within the timeout (10 s)"
    [signed] = [r for r in store.runs() if r.run_id == "other-2"]
    assert signed.result is not None
    assert signed.result.commit is not None
    assert (signed.result.commit.signed, signed.result.commit.signature) == (True, "ssh")
    assert run.result.skipped_paths == (".env",)
    store.prune(datetime.fromtimestamp(T0 + 10, UTC))
    assert store.commits() == []
