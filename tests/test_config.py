"""The configuration file: one reader, every problem at once with its key's path, the
value objects' own defaults, secrets from the environment, and the README's reference."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from plugin import (
    AlertConfig,
    AlertEvent,
    ConfigError,
    PluginConfig,
    PullRequestSink,
    RepoConfig,
    SlackSink,
    WebhookSink,
    load_config,
)
from plugin._reference import readme_with_reference, reference, sections
from reconcile import HTTPAuth, RepoSpec, Retry, SSHKey
from webhooks import Provider, sign_sha256

README = Path(__file__).resolve().parent.parent / "README.md"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/s3cretpath"
REPO = '[[repos]]\npath = "data"\n'
PIN = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reconcile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> PluginConfig:
    return load_config(_write(tmp_path, text), env or {})


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text, env)
    return caught.value.problems


# --- every problem at once --------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_path(tmp_path: Path) -> None:
    """Problems of several kinds in several tables come back together, each at its key."""
    text = (
        "history_size = 0\n"
        '[webhooks.github]\nsecret_envs = ["GH_OLD", "GH_NEW"]\n'
        '[[repos]]\npath = "a"\ntimeout = "x"\n'
        '[[repos]]\npath = "b"\ntmeout = 3\n'
        '[[repos]]\npath = "c"\nbranch = "refs/heads/main"\npoll_interval = -1\n'
        '[alerts]\n[[alerts.webhook]]\nurl = "ftp://ops.example.com/hook"\n'
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"GH_OLD": "old"})
    error = caught.value
    assert error.problems == (
        "history_size: must be at least 1, not 0",
        "repos[0].timeout: expected a number, got 'x'",
        "repos[1].tmeout: unknown key (known: bare, bearer, branch, commit, commit_max_wait, "
        "commit_quiet_period, deadline, exec_hook, exec_hook_timeout, fingerprints, "
        "github_app, http_user, identity, known_hosts, name, notify_retries, "
        "notify_secret_env, notify_secret_file, notify_timeout, notify_url, path, "
        "poll_interval, poll_jitter, remote, retries, ssh_key, timeout, token_file, trust, "
        "url, watch)",
        "repos[2].branch: 'refs/heads/main': give a short branch name such as 'main', "
        "not a full ref",
        "repos[2].poll_interval: must be >= 0 seconds, not -1.0",
        "webhooks.github.secret_envs[1]: environment variable GH_NEW is not set",
        "alerts.webhook[0].url: expected an http(s) URL",
    )
    assert isinstance(error, ValueError)
    assert str(error).splitlines() == [
        f"{path}: 7 problems",
        *(f"  {p}" for p in error.problems),
    ]


def test_a_malformed_key_hides_no_other_problem_of_its_table(tmp_path: Path) -> None:
    """A key of the wrong type is reported with the range problems of its table's other
    keys, not instead of them; keys the file does not set get no guessed complaint."""
    text = '[[repos]]\npath = "a"\npoll_interval = "x"\ntimeout = -3\n'
    text += '[webhooks.github]\nsecret_envs = ["GH_NEW"]\n'
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), {})
    assert caught.value.problems == (
        "repos[0].poll_interval: expected a number, got 'x'",
        "repos[0].timeout: must be a positive number of seconds, at most a day, not -3.0",
        "webhooks.github.secret_envs[0]: environment variable GH_NEW is not set",
    )


def test_one_problem_is_one_line_after_the_file_name(tmp_path: Path) -> None:
    """A single problem is reported on the file's line, so a log shows it whole."""
    path = _write(tmp_path, REPO + "timeout = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value) == (
        f"{path}: repos[0].timeout: must be a positive number of seconds, at most a day, not 0.0"
    )
    assert caught.value.source == str(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # types, in TOML's words
        (REPO + 'timeout = "x"\n', "repos[0].timeout: expected a number, got 'x'"),
        (REPO + "timeout = true\n", "repos[0].timeout: expected a number, got true"),
        (REPO + "timeout = nan\n", "repos[0].timeout: expected a finite number, got nan"),
        (REPO + "retries = 2.5\n", "repos[0].retries: expected an integer, got 2.5"),
        (REPO + "bearer = 1\n", "repos[0].bearer: expected true or false, got 1"),
        (REPO + "remote = 1\n", "repos[0].remote: expected a string, got 1"),
        ("[[repos]]\npath = 3\n", "repos[0].path: expected a string (a path), got 3"),
        (
            REPO + 'fingerprints = "SHA256:x"\n',
            "repos[0].fingerprints: expected an array, got 'SHA256:x'",
        ),
        (REPO + "fingerprints = [1]\n", "repos[0].fingerprints[0]: expected a string, got 1"),
        (
            REPO + 'fingerprints = ["notafp"]\n',
            "repos[0].fingerprints: 'notafp' is not a host key fingerprint: give it as "
            "ssh-keygen -l prints it, SHA256: and 43 base64 characters",
        ),
        (
            REPO + "deadline = 0\n",
            "repos[0].deadline: must be a positive number of seconds, at most a day, not 0.0",
        ),
        (REPO + 'name = " "\n', "repos[0].name: must not be empty"),
        ("repos = 3\n", "repos: expected an array of tables ([[repos]]), got 3"),
        ("repos = [3]\n", "repos[0]: expected a table, got 3"),
        (
            "webhooks = 3\n" + REPO,
            "webhooks: expected tables ([webhooks.<provider>]), got 3",
        ),
        ("alerts = 3\n" + REPO, "alerts: expected a table, got 3"),
        # unknown and missing keys
        (
            "colour = 1\n" + REPO,
            "colour: unknown key (known: admin_token_env, alerts, auto_upgrade, boot_policy, "
            "commit, database_url, database_url_env, fleet, history_size, identity, "
            "lock_database_url, lock_database_url_env, lock_session_timeout, replica_id, repos, "
            "retention_days, shutdown_timeout, webhooks)",
        ),
        (
            REPO + "[webhooks.github]\nsecret = 'x'\n",
            "webhooks.github.secret: unknown key "
            "(known: secret_env, secret_envs); secrets are never written here: name a variable "
            "(secret_env) or a file",
        ),
        ('[[repos]]\nname = "x"\n', "repos[0].path: required key is missing"),
        (
            REPO + "[webhooks.gitlub]\nsecret_env = 'X'\n",
            "webhooks.gitlub: unknown provider "
            "(known: github, gitlab, gitea, forgejo, bitbucket-cloud, bitbucket-dc, azure-devops, "
            "generic-hmac, generic-bearer, *)",
        ),
        # choices the loader owns, named in the file's keys
        (
            REPO + 'ssh_key = "k"\ntoken_file = "t"\n',
            "repos[0].ssh_key: give ssh_key or token_file, not both",
        ),
        (
            REPO + 'http_user = "oauth2"\n',
            "repos[0].http_user: only with token_file (an HTTPS token)",
        ),
        (
            REPO + "[webhooks.github]\n",
            "webhooks.github.secret_env: name the environment variable of the secret",
        ),
        # the value objects' own checks, at the key they concern
        (REPO + "retries = 0\n", "repos[0].retries: must be at least 1, not 0"),
        (
            REPO + "timeout = 90000\n",
            "repos[0].timeout: must be a positive number of seconds, at most a day, not 90000.0",
        ),
        (REPO + 'name = "a/b"\n', "repos[0].name: give a non-empty name without '/', not 'a/b'"),
        (REPO + "poll_jitter = 1\n", "repos[0].poll_jitter: must be in [0, 1), not 1.0"),
        ("repos = []\n", "repos: configure at least one repository"),
        ("", "repos: configure at least one repository"),
        (REPO + REPO, "repos: names must be unique; repeated: data"),
        ("boot_policy = 'x'\n" + REPO, "boot_policy: 'x' is not one of serve, not-ready, fail"),
        (
            "shutdown_timeout = 0\n" + REPO,
            "shutdown_timeout: must be between 0 and 3600 seconds, not 0.0",
        ),
        ("retention_days = 0\n" + REPO, "retention_days: must be a positive number, not 0.0"),
    ],
)
def test_each_kind_of_problem_names_its_key(tmp_path: Path, text: str, problem: str) -> None:
    """Each malformed entry is one problem that starts with its key's full path."""
    assert _problems(tmp_path, text) == (problem,)


def test_secret_envs_problems_name_secret_envs(tmp_path: Path) -> None:
    """An unset variable named in secret_envs is reported there, not as secret_env."""
    text = REPO + '[webhooks.github]\nsecret_env = "ONE"\nsecret_envs = ["TWO"]\n'
    assert _problems(tmp_path, text, {"ONE": "1"}) == (
        "webhooks.github.secret_envs[0]: environment variable TWO is not set",
    )
    assert _problems(tmp_path, text, {"TWO": "2"}) == (
        "webhooks.github.secret_env: environment variable ONE is not set",
    )


def test_a_bad_table_does_not_hide_the_other_tables_problems(tmp_path: Path) -> None:
    """A repository whose shape is wrong is reported alone; its siblings are still checked,
    and the 'no repositories' check waits until every entry is right."""
    text = '[[repos]]\npath = "a"\ntimeout = "x"\n[[repos]]\npath = "b"\nretries = 0\n'
    assert _problems(tmp_path, text) == (
        "repos[0].timeout: expected a number, got 'x'",
        "repos[1].retries: must be at least 1, not 0",
    )
    assert _problems(tmp_path, '[[repos]]\npath = "a"\nname = "x/y"\n') == (
        "repos[0].name: give a non-empty name without '/', not 'x/y'",
    )


def test_a_file_that_is_not_toml_is_one_problem(tmp_path: Path) -> None:
    """Unparsable, unreadable or binary files are one clear problem each, with the file."""
    path = _write(tmp_path, "[[repos\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    [problem] = caught.value.problems
    assert problem.startswith("not valid TOML: ")
    assert str(caught.value).startswith(f"{path}: not valid TOML")
    path.write_bytes(b"\xff\xfe[[repos]]")
    with pytest.raises(ConfigError, match="not valid TOML: the file is not UTF-8 text"):
        load_config(path, {})
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, {})
    assert caught.value.problems == ("cannot read the file: No such file or directory",)


# --- defaults, paths and secrets ----------------------------------------------------------


def test_keys_left_out_take_the_value_objects_defaults(tmp_path: Path) -> None:
    """A minimal file gives exactly the value objects built with their own defaults."""
    loaded = _load(tmp_path, REPO + "[alerts]\n")
    data = tmp_path / "data"
    assert loaded.repos == (RepoConfig("data", data, spec=RepoSpec(data)),)
    assert loaded.repos[0].spec == RepoSpec(data)
    assert dataclasses.replace(loaded, alerts=None) == PluginConfig(
        repos=loaded.repos, admin_token_env="RECONCILE_ADMIN_TOKEN"
    )
    assert loaded.alerts == AlertConfig()


def test_sink_keys_left_out_take_the_sinks_defaults(tmp_path: Path) -> None:
    """A sink's min_severity, when not set, is its constructor's default."""
    text = (
        REPO + "[alerts]\n"
        '[[alerts.slack]]\nwebhook_url_env = "SLACK"\n'
        '[[alerts.webhook]]\nurl = "https://ops.example.com/hook"\n'
        '[[alerts.pull_request]]\nprovider = "github"\nproject = "o/r"\ntoken_env = "GH"\n'
    )
    loaded = _load(tmp_path, text, {"SLACK": SLACK_URL, "GH": "ght"})
    assert loaded.alerts is not None
    for sink in loaded.alerts.sinks:
        default = inspect.signature(type(sink)).parameters["min_severity"].default
        assert sink.min_severity == default
    pull = loaded.alerts.sinks[2]
    assert isinstance(pull, PullRequestSink)
    assert (pull.api_url, pull.base_branch) == ("https://api.github.com", None)


def test_every_repo_key_reaches_its_value_object(tmp_path: Path) -> None:
    """Each [[repos]] key sets the parameter it documents."""
    text = (
        '[[repos]]\nname = "cat"\npath = "data"\nremote = "up"\nbranch = "live"\n'
        "poll_interval = 5\npoll_jitter = 0.5\ntimeout = 7\ndeadline = 20\nretries = 2\n"
        f'known_hosts = "kh"\nfingerprints = ["{PIN}"]\n'
        'token_file = "token"\nhttp_user = "oauth2"\nbearer = true\n'
    )
    [repo] = _load(tmp_path, text).repos
    data = tmp_path / "data"
    assert repo == RepoConfig(
        "cat",
        data,
        remote="up",
        branch="live",
        poll_interval=5,
        poll_jitter=0.5,
        spec=RepoSpec(
            data,
            remote="up",
            branch="live",
            timeout=7,
            credentials=HTTPAuth("oauth2", password_file=tmp_path / "token", bearer=True),
            known_hosts=tmp_path / "kh",
            host_key_fingerprints=(PIN,),
            retry=Retry(attempts=2),
            deadline=20,
        ),
    )


def test_relative_paths_are_relative_to_the_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every path in the file is relative to its folder, whatever the working directory;
    `~` is the user's home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir("/")
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "slack-url").write_text(SLACK_URL + "\n")
    (folder / "hmac").write_text("k3y\n")
    text = (
        '[[repos]]\npath = "data"\nssh_key = "keys/id"\nknown_hosts = "~/kh"\n'
        '[[repos]]\npath = "/srv/other"\ntoken_file = "token"\n'
        "[alerts]\n"
        '[[alerts.slack]]\nwebhook_url_file = "slack-url"\n'
        '[[alerts.webhook]]\nurl = "https://ops.example.com/hook"\nsecret_file = "hmac"\n'
        '[[alerts.pull_request]]\nprovider = "github"\nproject = "o/r"\ntoken_file = "gh"\n'
    )
    loaded = load_config(_write(folder, text), {})
    first, second = (r.to_spec() for r in loaded.repos)
    assert (loaded.repos[0].path, first.path) == (folder / "data", folder / "data")
    assert first.credentials == SSHKey(private_key=folder / "keys/id")
    assert first.known_hosts == tmp_path / "home" / "kh"
    assert second.path == Path("/srv/other")
    assert isinstance(second.credentials, HTTPAuth)
    assert second.credentials.password_file == folder / "token"
    assert loaded.alerts is not None
    slack, webhook, pull = loaded.alerts.sinks
    assert isinstance(pull, PullRequestSink)
    assert pull.token_file == folder / "gh"
    event = AlertEvent("failing", "warning", "data", "main", datetime.now(UTC), "data: failing")
    sent = anyio.run(slack.request, event)
    assert sent is not None
    assert str(sent.url) == SLACK_URL
    signed = anyio.run(webhook.request, event)
    assert signed is not None
    assert signed.headers["X-Signature"] == sign_sha256("k3y", signed.content)


def test_secrets_come_from_the_environment_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets are read from the environment handed in (os.environ only when none is),
    and never appear in the configuration's repr."""
    monkeypatch.setenv("RECONCILE_ADMIN_TOKEN", "from-os-zz")
    text = '[webhooks.github]\nsecret_envs = ["GH_OLD", "GH_NEW"]\n' + REPO
    env = {
        "RECONCILE_ADMIN_TOKEN": "adm1n-zz",
        "RECONCILE_WEBHOOK_SECRET": "any-zz",
        "GH_OLD": "old-zz",
        "GH_NEW": "new-zz",
    }
    loaded = _load(tmp_path, text, env)
    assert loaded.admin_token == "adm1n-zz"
    assert loaded.secrets_for("github") == ("old-zz", "new-zz")
    assert loaded.secrets_for("gitlab") == ("any-zz",)
    assert "-zz" not in repr(loaded)
    assert load_config(_write(tmp_path, text), os.environ | env).admin_token == "adm1n-zz"
    monkeypatch.setenv("GH_OLD", "o")
    monkeypatch.setenv("GH_NEW", "n")
    assert load_config(_write(tmp_path, text)).admin_token == "from-os-zz"


def test_admin_token_env_names_another_variable(tmp_path: Path) -> None:
    """admin_token_env names the admin token's variable; unset, there is no admin token,
    and the configuration keeps the variable's name for the admin routes' 503."""
    text = 'admin_token_env = "MY_ADMIN"\n' + REPO
    assert _load(tmp_path, text, {"MY_ADMIN": "a"}).admin_token == "a"
    unset = _load(tmp_path, text, {"RECONCILE_ADMIN_TOKEN": "b"})
    assert (unset.admin_token, unset.admin_token_env) == (None, "MY_ADMIN")


def test_database_url_precedence(tmp_path: Path) -> None:
    """database_url_env wins over RECONCILE_DATABASE_URL, which wins over database_url."""
    file_url = "sqlite:///file.sqlite3"
    text = f'database_url = "{file_url}"\n' + REPO
    assert _load(tmp_path, text).database_url == file_url
    env = {"RECONCILE_DATABASE_URL": "sqlite:///env.sqlite3", "DB": "postgresql://db/x"}
    assert _load(tmp_path, text, env).database_url == "sqlite:///env.sqlite3"
    both = 'database_url_env = "DB"\n' + text
    assert _load(tmp_path, both, env).database_url == "postgresql://db/x"
    assert _problems(tmp_path, both) == ("database_url_env: environment variable DB is not set",)


def test_every_provider_of_the_webhooks_package_is_accepted(tmp_path: Path) -> None:
    """[webhooks.<provider>] takes exactly the names of webhooks.Provider, and "*"."""
    names = [p.value for p in Provider] + ["*"]
    text = REPO + "".join(f'[webhooks."{n}"]\nsecret_env = "S"\n' for n in names)
    loaded = _load(tmp_path, text, {"S": "s"})
    assert sorted(loaded.webhook_secrets) == sorted(names)


# --- the [alerts] tables --------------------------------------------------------------------

ALERTS = """
[alerts]
failure_threshold = 2
dedupe_interval = 60
[[alerts.slack]]
webhook_url_env = "SLACK_WEBHOOK_URL"
min_severity = "warning"
[[alerts.webhook]]
url = "https://ops.example.com/hooks/git"
secret_env = "ALERT_WEBHOOK_SECRET"
[[alerts.pull_request]]
provider = "github"
api_url = "https://api.github.com"
project = "org/data"
token_env = "GITHUB_TOKEN"
"""
ENV = {"SLACK_WEBHOOK_URL": SLACK_URL, "ALERT_WEBHOOK_SECRET": "whs", "GITHUB_TOKEN": "ght"}


def test_the_alerts_table_builds_the_sinks(tmp_path: Path) -> None:
    """The README's [alerts] example gives a Slack, a webhook and a pull-request sink."""
    loaded = _load(tmp_path, REPO + ALERTS, ENV)
    config = loaded.alerts
    assert config is not None
    slack, webhook, pull = config.sinks
    assert isinstance(slack, SlackSink)
    assert slack.min_severity == "warning"
    assert isinstance(webhook, WebhookSink)
    assert webhook.url == "https://ops.example.com/hooks/git"
    assert isinstance(pull, PullRequestSink)
    assert (pull.provider, pull.project, pull.token_env) == ("github", "org/data", "GITHUB_TOKEN")
    assert (config.failure_threshold, config.dedupe_interval) == (2, 60.0)
    assert "ght" not in repr(config) + slack.describe() + webhook.describe() + pull.describe()
    assert "s3cretpath" not in slack.describe()


def test_a_single_sink_table_and_hosts(tmp_path: Path) -> None:
    """[alerts.slack] (one table, not an array) is one sink; host names are lower-cased."""
    text = REPO + (
        '[alerts]\nhosts = { "Git.Example.com" = "gitea" }\n'
        '[alerts.slack]\nwebhook_url_env = "SLACK_WEBHOOK_URL"\n'
    )
    config = _load(tmp_path, text, ENV).alerts
    assert config is not None
    [slack] = config.sinks
    assert isinstance(slack, SlackSink)
    assert config.hosts == {"git.example.com": "gitea"}


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("failure_threshold = 0", "alerts.failure_threshold: must be at least 1, not 0"),
        ('dedupe_interval = "5m"', "alerts.dedupe_interval: expected a number, got '5m'"),
        ("dedupe_interval = -1", "alerts.dedupe_interval: must be at least 0, not -1.0"),
        ("queue_size = 0", "alerts.queue_size: must be at least 1, not 0"),
        (
            "send_timeout = 601",
            "alerts.send_timeout: must be more than 0 and at most 600 seconds, not 601.0",
        ),
        ("retries = -1", "alerts.retries: must be at least 0, not -1"),
        (
            "colour = 'red'",
            "alerts.colour: unknown key (known: dedupe_interval, "
            "failure_threshold, hosts, pull_request, queue_size, retries, send_timeout, slack, "
            "webhook)",
        ),
        (
            'hosts = { "git.example.com" = "svn" }',
            'alerts.hosts."git.example.com": expected '
            "one of 'github', 'gitlab', 'gitea' or 'bitbucket', got 'svn'",
        ),
        ("slack = 3", "alerts.slack: expected an array of tables ([[alerts.slack]]), got 3"),
        (
            f'[[alerts.slack]]\nwebhook_url_env = "SLACK_WEBHOOK_URL"\nwebhook_url = "{SLACK_URL}"',
            "alerts.slack[0].webhook_url: unknown key (known: min_severity, webhook_url_env, "
            "webhook_url_file); secrets are never written here: name a variable "
            "(webhook_url_env) or a file",
        ),
        (
            '[[alerts.slack]]\nwebhook_url_env = "UNSET"',
            "alerts.slack[0].webhook_url_env: environment variable UNSET is not set",
        ),
        (
            '[[alerts.slack]]\nwebhook_url_env = "PLAIN"',
            "alerts.slack[0].webhook_url_env: the Slack webhook URL must be https",
        ),
        (
            "[[alerts.slack]]",
            "alerts.slack[0].webhook_url_env: give webhook_url_env or webhook_url_file",
        ),
        (
            '[[alerts.slack]]\nwebhook_url_env = "SLACK_WEBHOOK_URL"\nmin_severity = "loud"',
            "alerts.slack[0].min_severity: expected one of info, warning, critical, not 'loud'",
        ),
        ('[[alerts.webhook]]\nurl = "ftp://x"', "alerts.webhook[0].url: expected an http(s) URL"),
        (
            '[[alerts.webhook]]\nurl_env = "GOPHER"',
            "alerts.webhook[0].url_env: expected an http(s) URL",
        ),
        ("[[alerts.webhook]]", "alerts.webhook[0].url: give url or url_env"),
        (
            '[[alerts.webhook]]\nurl = "https://a.example"\nsecret_env = "GITHUB_TOKEN"\n'
            'secret_file = "f"',
            "alerts.webhook[0].secret_env: give secret_env or secret_file, not both",
        ),
        (
            '[[alerts.pull_request]]\nprovider = "svn"\nproject = "o/r"\n'
            'token_env = "GITHUB_TOKEN"',
            "alerts.pull_request[0].provider: expected one of github, gitlab, gitea, not 'svn'",
        ),
        (
            '[[alerts.pull_request]]\nprovider = "gitea"\nproject = "o/r"\n'
            'token_env = "GITHUB_TOKEN"',
            "alerts.pull_request[0].api_url: required for gitea",
        ),
        (
            '[[alerts.pull_request]]\nprovider = "github"\nproject = "data"\n'
            'token_env = "GITHUB_TOKEN"',
            "alerts.pull_request[0].project: expected owner/repo, not 'data'",
        ),
        (
            '[[alerts.pull_request]]\nprovider = "github"\nproject = "o/r"',
            "alerts.pull_request[0].token_env: give token_env or token_file",
        ),
        (
            '[[alerts.pull_request]]\nprovider = "github"\ntoken_env = "GITHUB_TOKEN"',
            "alerts.pull_request[0].project: required key is missing",
        ),
        (
            '[[alerts.pull_request]]\nprovider = "github"\nproject = "o/r"\ntoken_env = "UNSET"',
            "alerts.pull_request[0].token_env: environment variable UNSET is not set",
        ),
    ],
)
def test_bad_alert_configuration_names_the_key(tmp_path: Path, table: str, problem: str) -> None:
    """Each malformed [alerts] entry is one problem at its key."""
    text = REPO + "[alerts]\n" + table + "\n"
    assert _problems(
        tmp_path, text, ENV | {"PLAIN": "http://hooks.example.com/x", "GOPHER": "gopher://x"}
    ) == (problem,)


def test_alert_problems_carry_no_secret(tmp_path: Path) -> None:
    """A URL taken from the environment is never shown in a problem."""
    text = REPO + '[alerts]\n[[alerts.webhook]]\nurl_env = "HOOK"\n'
    [problem] = _problems(tmp_path, text, {"HOOK": "gopher://s3cret.example.com/x"})
    assert "s3cret" not in problem


# --- the README ---------------------------------------------------------------------------


def _toml_examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_every_readme_toml_example_loads(tmp_path: Path) -> None:
    """Each TOML example in the README loads, given the variables it names, with its
    repositories or its fleet."""
    examples = _toml_examples()
    assert examples
    for example in examples:
        names = re.findall(r"_envs? = \[?([^\n]*)", example)
        env = dict.fromkeys(re.findall(r'"(\w+)"', " ".join(names)), "https://hooks.example.com/x")
        loaded = load_config(_write(tmp_path, example), env)
        assert loaded.repos or loaded.fleet is not None


def test_readme_reference_is_current() -> None:
    """The configuration reference in README.md equals the one generated from the models.

    Fix with: python -m plugin._reference --write README.md
    """
    text = README.read_text(encoding="utf-8")
    assert readme_with_reference(text) == text


def test_reference_shows_every_key_with_the_value_objects_defaults() -> None:
    """Every key of every table is in the reference, with the default its value object has."""

    text = reference()
    for title, model, _note in sections():
        assert f"### {title}" in text
        for key in model.model_fields:
            assert f"| `{key}` |" in text, key
    assert "| `timeout` | number | `30` |" in text
    assert f'| `remote` | string | `"{RepoSpec("x").remote}"` |' in text
    assert f"| `retries` | integer | `{Retry().attempts}` |" in text
    assert f"| `failure_threshold` | integer | `{AlertConfig().failure_threshold}` |" in text
    assert (
        f"| `history_size` | integer | `{PluginConfig((RepoConfig('x', Path()),)).history_size}` |"
        in text
    )


def test_every_problem_of_the_alerts_is_reported_at_once(tmp_path: Path) -> None:
    """The value objects of the alerts check every field before they complain, so five
    mistakes across the settings and a sink are five problems, each at its key."""
    problems = _problems(
        tmp_path,
        """
        [[repos]]
        path = "/srv/data"
        [alerts]
        queue_size = 0
        retries = -1
        [[alerts.pull_request]]
        provider = "gitea"
        project = "data"
        token_env = "TOKEN"
        min_severity = "loud"
        """,
        {"TOKEN": "t"},
    )
    keys = sorted(p.split(":", 1)[0] for p in problems)
    assert keys == [
        "alerts.pull_request[0].api_url",
        "alerts.pull_request[0].min_severity",
        "alerts.pull_request[0].project",
        "alerts.queue_size",
        "alerts.retries",
    ], problems
