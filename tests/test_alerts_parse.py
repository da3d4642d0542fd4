"""The ``[alerts]`` table of the configuration file: the sinks and settings it builds,
and a ConfigError naming the key for each malformed entry."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from alertutil import SLACK_URL

from plugin import ConfigError
from plugin.alerts import (
    AlertConfig,
    Alerter,
    PullRequestSink,
    SlackSink,
    WebhookSink,
    alerts_from_mapping,
    sinks_from_mapping,
)

CONFIG = """
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
ENV = {
    "SLACK_WEBHOOK_URL": SLACK_URL,
    "ALERT_WEBHOOK_SECRET": "whs",
    "GITHUB_TOKEN": "ght",
    "FTP_URL": "ftp://ops.example.com/hook",
}


def test_the_alerts_table_builds_the_sinks() -> None:
    """The README's [alerts] example gives a Slack, a webhook and a pull-request sink."""
    table = tomllib.loads(CONFIG)["alerts"]
    slack, webhook, pull = sinks_from_mapping(table, ENV)
    assert isinstance(slack, SlackSink)
    assert slack.min_severity == "warning"
    assert isinstance(webhook, WebhookSink)
    assert webhook.url == "https://ops.example.com/hooks/git"
    assert isinstance(pull, PullRequestSink)
    assert (pull.provider, pull.project, pull.token_env) == ("github", "org/data", "GITHUB_TOKEN")
    config = alerts_from_mapping(table, ENV)
    assert (config.failure_threshold, config.dedupe_interval) == (2, 60.0)
    alerter = Alerter.from_config(config)
    assert alerter.failure_threshold == 2
    assert "ght" not in repr(config) + slack.describe() + webhook.describe() + pull.describe()
    assert "s3cretpath" not in slack.describe()


def test_what_the_table_leaves_out_keeps_the_defaults() -> None:
    """An empty [alerts] table gives AlertConfig's defaults, and a sink without
    min_severity the sink's own."""
    assert alerts_from_mapping({}, ENV) == AlertConfig()
    (sink,) = sinks_from_mapping({"webhook": [{"url": "https://ops.example.com/h"}]}, ENV)
    assert sink.min_severity == WebhookSink("https://ops.example.com/h").min_severity


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ({"failure_threshold": 0}, "alerts.failure_threshold"),
        ({"dedupe_interval": "5m"}, "alerts.dedupe_interval"),
        ({"queue_size": 0}, "alerts.queue_size"),
        ({"send_timeout": 0}, "alerts.send_timeout"),
        ({"retries": -1}, "alerts.retries"),
        ({"colour": "red"}, "alerts.colour"),
        ({"slack": [{"webhook_url": SLACK_URL}]}, "alerts.slack[0].webhook_url"),
        ({"slack": [{"webhook_url_env": "UNSET"}]}, "alerts.slack[0].webhook_url_env"),
        (
            {"slack": [{"webhook_url_env": "SLACK_WEBHOOK_URL", "min_severity": "loud"}]},
            "alerts.slack[0].min_severity",
        ),
        ({"webhook": [{"url": "ftp://x"}]}, "alerts.webhook[0].url"),
        ({"webhook": [{"url_env": "FTP_URL"}]}, "alerts.webhook[0].url_env"),
        ({"webhook": [{}]}, "alerts.webhook[0].url"),
        (
            {"webhook": [{"url": "https://ops.example.com/h", "min_severity": "loud"}]},
            "alerts.webhook[0].min_severity",
        ),
        (
            {"pull_request": [{"provider": "svn", "project": "o/r", "token_env": "GITHUB_TOKEN"}]},
            "alerts.pull_request[0].provider",
        ),
        (
            {
                "pull_request": [
                    {"provider": "gitea", "project": "o/r", "token_env": "GITHUB_TOKEN"}
                ]
            },
            "alerts.pull_request[0].api_url",
        ),
        (
            {
                "pull_request": [
                    {"provider": "github", "project": "data", "token_env": "GITHUB_TOKEN"}
                ]
            },
            "alerts.pull_request[0].project",
        ),
        (
            {"pull_request": [{"provider": "github", "project": "o/r"}]},
            "alerts.pull_request[0].token_env",
        ),
        ({"hosts": {"git.example.com": "svn"}}, "alerts.hosts.git.example.com"),
    ],
)
def test_bad_alert_configuration_names_the_key(edit: dict[str, Any], key: str) -> None:
    """Each malformed entry raises ConfigError naming the offending key."""
    with pytest.raises(ConfigError) as caught:
        sinks_from_mapping(edit, ENV)
    assert str(caught.value).startswith(f"{key}:"), str(caught.value)
