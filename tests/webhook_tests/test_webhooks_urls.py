"""normalise_repo_url and Delivery.matches: one key for every spelling of a repository."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from payloads import (
    AZURE_USER,
    azure_push,
    basic,
    bitbucket_cloud_push,
    github_push,
    secrets_for,
    signed,
)

from webhooks import Provider, Secrets, normalise_repo_url, verify_and_parse


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:Org/Repo.git",
        "ssh://git@github.com/Org/Repo",
        "ssh://git@github.com:22/Org/Repo.git",
        "https://user:tok@github.com/Org/Repo.git",
        "https://x-access-token:ghs_abc@GitHub.com:443/org/repo/",
        "http://github.com/org/repo.git/",
        "git://github.com/Org/Repo.git",
        "git+ssh://git@github.com/Org/Repo.git",
        "github.com:Org/Repo.git",
        "github.com/org/repo",
        "  https://github.com/Org/Repo.git  ",
        "https://github.com//Org//Repo.git?ref=main#readme",
        "https://github.com./Org/Repo",
    ],
)
def test_spellings_of_one_repository_give_one_key(url: str) -> None:
    """https, ssh, scp-like and git URLs, with or without credentials, port, .git and
    trailing slash, all reduce to github.com/org/repo."""
    assert normalise_repo_url(url) == "github.com/org/repo"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("git@gitlab.example.com:acme/platform/data.git", "gitlab.example.com/acme/platform/data"),
        ("ssh://git@git.example.org:2222/acme/data.git", "git.example.org/acme/data"),
        (
            "https://acme@dev.azure.com/acme/Platform/_git/Data",
            "dev.azure.com/acme/platform/_git/data",
        ),
        ("git@ssh.dev.azure.com:v3/acme/Platform/Data", "dev.azure.com/acme/platform/_git/data"),
        (
            "https://dev.azure.com/acme/My%20Project/_git/Data",
            "dev.azure.com/acme/my%20project/_git/data",
        ),
        (
            "https://dev.azure.com/acme/My Project/_git/Data",
            "dev.azure.com/acme/my%20project/_git/data",
        ),
        ("ssh://git@[::1]:2222/acme/data.git", "[::1]/acme/data"),
        ("/srv/git/Data.git", "/srv/git/data"),
        ("file:///srv/git/data.git/", "/srv/git/data"),
        ("https://bitbucket.org/acme/data", "bitbucket.org/acme/data"),
    ],
)
def test_keys(url: str, key: str) -> None:
    """Each form gives the documented key (paths lower-cased, escapes in one form)."""
    assert key == normalise_repo_url(url)


@pytest.mark.parametrize(
    "url", ["", "   ", "https://github.com", "https://github.com/", "https:///org/repo", "x.git"]
)
def test_urls_without_host_or_path_are_refused(url: str) -> None:
    """A URL naming no host or no repository path is a ValueError."""
    with pytest.raises(ValueError, match="not a repository URL"):
        normalise_repo_url(url)


def test_different_repositories_stay_different() -> None:
    """Another owner, another repository or another host gives another key."""
    keys = {
        normalise_repo_url(url)
        for url in (
            "https://github.com/org/repo",
            "https://github.com/org/repo2",
            "https://github.com/org2/repo",
            "https://gitlab.com/org/repo",
            "https://github.com/org/sub/repo",
        )
    }
    assert len(keys) == 5


URLS = st.one_of(
    st.text(max_size=60),
    st.builds(
        "{}://{}{}/{}".format,
        st.sampled_from(["https", "ssh", "git", "file", "HTTP"]),
        st.sampled_from(["", "git@", "u:p@", "a@b@"]),
        st.text(max_size=15),
        st.text(max_size=30),
    ),
    st.builds("{}:{}".format, st.text(max_size=15), st.text(max_size=30)),
)


@settings(max_examples=300, deadline=None)
@given(URLS)
def test_normalising_is_idempotent(url: str) -> None:
    """A key normalises to itself, so keys and URLs can be compared in any mix; any
    input either normalises or raises ValueError."""
    try:
        key = normalise_repo_url(url)
    except ValueError:
        return
    assert key == normalise_repo_url(key)


def test_delivery_matches_configured_url() -> None:
    """A GitHub delivery matches the configured repo by any of its URL spellings."""
    request = signed(Provider.GITHUB, github_push(), "s")
    delivery = verify_and_parse(Provider.GITHUB, request.headers, request.body, Secrets("s"))
    assert delivery.matches("git@github.com:acme/data.git")
    assert delivery.matches("https://deploy:token@github.com/Acme/Data")
    assert not delivery.matches("git@github.com:acme/data-other.git")
    assert not delivery.matches("")


def test_bitbucket_cloud_delivery_matches_a_clone_url() -> None:
    """Bitbucket Cloud sends only the web URL; it still matches the clone URLs."""
    request = signed(Provider.BITBUCKET_CLOUD, bitbucket_cloud_push(), "s")
    delivery = verify_and_parse(
        Provider.BITBUCKET_CLOUD, request.headers, request.body, Secrets("s")
    )
    assert delivery.matches("git@bitbucket.org:acme/data.git")
    assert delivery.matches("https://ada@bitbucket.org/acme/data.git")


def test_azure_delivery_matches_https_and_ssh() -> None:
    """Azure DevOps names the repository by https and ssh; either configured form matches."""

    request = signed(Provider.AZURE_DEVOPS, azure_push(), "pw")
    delivery = verify_and_parse(
        Provider.AZURE_DEVOPS,
        request.headers,
        request.body,
        secrets_for(Provider.AZURE_DEVOPS, "pw"),
    )
    assert delivery.matches("https://dev.azure.com/acme/Platform/_git/Data")
    assert delivery.matches("git@ssh.dev.azure.com:v3/acme/Platform/Data")
    assert not delivery.matches("https://dev.azure.com/acme/Platform/_git/Other")


@pytest.mark.parametrize(
    "url",
    [
        "https://dev.azure.com/acme/Platform/_git/Data",
        "https://acme@dev.azure.com/acme/Platform/_git/Data",
        "git@ssh.dev.azure.com:v3/acme/Platform/Data",
        "ssh://git@ssh.dev.azure.com/v3/acme/Platform/Data",
        "acme@vs-ssh.visualstudio.com:v3/acme/Platform/Data",
        "https://acme.visualstudio.com/Platform/_git/Data",
        "https://acme.visualstudio.com/DefaultCollection/Platform/_git/Data",
        "ssh://acme@acme.visualstudio.com:22/DefaultCollection/Platform/_git/Data",
    ],
)
def test_azure_spellings_give_one_key(url: str) -> None:
    """Every spelling Azure DevOps has for a repository, SSH and the older
    visualstudio.com hosts included, gives the key of its https remoteUrl."""
    assert normalise_repo_url(url) == "dev.azure.com/acme/platform/_git/data"


@pytest.mark.parametrize(
    "url",
    [
        "https://dev.azure.com/acme/Data/_git/Data",
        "https://dev.azure.com/acme/_git/Data",
        "https://acme.visualstudio.com/_git/Data",
        "https://acme.visualstudio.com/DefaultCollection/_git/Data",
        "git@ssh.dev.azure.com:v3/acme/Data/Data",
    ],
)
def test_azure_project_repository_shortcut(url: str) -> None:
    """`org/_git/repo` names the repository of the project of that name."""
    assert normalise_repo_url(url) == "dev.azure.com/acme/data/_git/data"


@pytest.mark.parametrize(
    "url",
    [
        "git@ssh.dev.azure.com:v3/acme/Platform/Other",
        "git@ssh.dev.azure.com:v3/acme/Other/Data",
        "git@ssh.dev.azure.com:v3/other/Platform/Data",
        "https://acme.visualstudio.com/Platform/_git/Other",
        "https://other.visualstudio.com/Platform/_git/Data",
        "git@ssh.dev.azure.com:v3/acme/Platform",
        "https://dev.azure.com/acme/Platform",
    ],
)
def test_other_azure_repositories_stay_different(url: str) -> None:
    """Another organisation, project or repository, or a URL that names no repository,
    gives another key."""
    assert normalise_repo_url(url) != "dev.azure.com/acme/platform/_git/data"


FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "webhooks"


def _azure_fixtures() -> list[Path]:
    found = sorted((FIXTURES / "azure-devops").glob("*.json"))
    if not found and not os.environ.get("CI"):  # a clone without the shared folder beside it
        pytest.skip(f"no published Azure DevOps deliveries in {FIXTURES}")
    assert found, f"no published Azure DevOps deliveries in {FIXTURES}"
    return found


def _other_forms(remote_url: str) -> list[str]:
    """The SSH and older spellings of the repository an https ``remoteUrl`` names."""
    org, project, _git, repo = remote_url.removeprefix("https://dev.azure.com/").split("/")
    if project == "DefaultCollection":  # Microsoft's sample: the project's own repository
        project = repo
    return [
        f"git@ssh.dev.azure.com:v3/{org}/{project}/{repo}",
        f"{org}@vs-ssh.visualstudio.com:v3/{org}/{project}/{repo}",
        f"https://{org}.visualstudio.com/{project}/_git/{repo}",
        f"https://{org}.visualstudio.com/DefaultCollection/{project}/_git/{repo}",
    ]


def test_published_azure_deliveries_match_every_remote_spelling() -> None:
    """Real "Code pushed" deliveries published by Azure DevOps users carry only the https
    remoteUrl; each still matches a repository configured by its SSH or visualstudio.com
    URL, and not another repository of the same organisation."""
    fixtures = _azure_fixtures()
    assert len(fixtures) >= 3
    for fixture in fixtures:
        body = fixture.read_bytes()
        repository = json.loads(body)["resource"]["repository"]
        assert "sshUrl" not in repository
        headers = {"Content-Type": "application/json", "Authorization": basic(AZURE_USER, "pw")}
        delivery = verify_and_parse(
            Provider.AZURE_DEVOPS, headers, body, secrets_for(Provider.AZURE_DEVOPS, "pw")
        )
        remote_url = repository["remoteUrl"]
        assert delivery.matches(remote_url), fixture.name
        for url in _other_forms(remote_url):
            assert delivery.matches(url), (fixture.name, url)
        org = remote_url.split("/")[3]
        assert not delivery.matches(f"git@ssh.dev.azure.com:v3/{org}/elsewhere/other"), fixture
