"""`git-reconcile commit --dry-run`, `--llm-url/--llm-model` and `--sign`, and the
`[commit.llm]` and signing keys of the configuration file."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commitutil import status, write
from gitutil import World, git
from servers.chat import Answer, ChatServer, chat_server

from plugin import ConfigError, load_config
from plugin.cli import ExitCode, main
from reconcile import GPGSigner, LLMGenerator, SSHSigner


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server() as chat:
        yield chat


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["commit", *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, json.loads(out[0])


def test_dry_run_prints_the_commit_and_makes_none(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`commit --dry-run` prints the files and the message and commits nothing:
    `git status` and `git log` are as they were, and nothing is pushed."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n", "data.txt": "2\n", ".env": "SECRET=1\n"})
    git(app, "add", "a.txt")
    before = (status(app), git(app, "log", "--format=%H"), path_world.remote_tip())
    index = (app / ".git" / "index").read_bytes()
    code = main(["commit", str(app), "--dry-run", "--trailer", "Ticket=DATA-7"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert out.splitlines() == [
        "dry run: would commit 2 file(s) (nothing committed)",
        "  A a.txt",
        "  M data.txt",
        "  left out (exclude): .env",
        "message (template):",
        "  Update 2 file(s): a.txt, data.txt",
        "",
        "  Ticket: DATA-7",
    ]
    assert (status(app), git(app, "log", "--format=%H"), path_world.remote_tip()) == before
    assert (app / ".git" / "index").read_bytes() == index
    assert not (app / ".git" / "index.lock").exists()


def test_dry_run_json_with_the_model(
    path_world: World, server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dry-run --json` with --llm-url/--llm-model: the model's message, in one JSON
    object; still nothing committed."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    log = git(app, "log", "--format=%H")
    code, out = _json(
        capsys,
        str(app),
        "--dry-run",
        "--llm-url",
        server.base_url,
        "--llm-model",
        "test-model",
    )
    assert code == ExitCode.OK
    assert out["dry_run"] == {
        "changes": [{"path": "a.txt", "status": "added"}],
        "message": "Update the readings\n\nRecord the morning values.\n",
        "message_source": "llm:test-model",
        "message_skipped": None,
        "skipped_paths": [],
        "refusal": None,
    }
    assert git(app, "log", "--format=%H") == log
    assert status(app) == "?? a.txt"


def test_dry_run_says_what_would_block(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A commit that would be refused: the dry run says why and exits 6."""
    app = path_world.clone("app")
    write(app, {"keys.txt": "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"})
    code = main(["commit", str(app), "--dry-run"])
    out = capsys.readouterr().out
    assert code == ExitCode.BLOCKED
    assert out.startswith("dry run: the commit would be blocked: keys.txt line 1 holds")


def test_commit_with_the_model_falls_back_to_the_template(
    path_world: World, server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`commit --llm-url ... --llm-timeout` with a slow model: committed and pushed
    with the template's message, the JSON saying why."""
    server.default = Answer(delay=3)
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    args = ["--llm-url", server.base_url, "--llm-model", "test-model", "--llm-timeout", "0.3"]
    code, out = _json(capsys, str(app), *args)
    assert code == ExitCode.OK
    assert out["commit"]["message_source"] == "template"
    assert out["commit"]["message_skipped"] == "no answer within the timeout (0.3 s)"
    assert out["commit"]["signed"] is False
    assert out["commit"]["signature"] is None


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_commit_sign_ssh(
    path_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`commit --sign ssh --signing-key KEY`: a commit git verifies; the JSON says
    signed, with ssh."""
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed"
    allowed.write_text(f"test@example.invalid {key.with_suffix('.pub').read_text()}")
    app = path_world.clone("app")
    git(app, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    write(app, {"a.txt": "a\n"})
    code, out = _json(capsys, str(app), "--sign", "ssh", "--signing-key", str(key))
    assert code == ExitCode.OK
    assert (out["commit"]["signed"], out["commit"]["signature"]) == (True, "ssh")
    git(app, "verify-commit", "HEAD")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--llm-url", "http://127.0.0.1:1/v1"], "--llm-url and --llm-model go together"),
        (["--llm-timeout", "3"], "need --llm-url"),
        (["--sign", "ssh"], "--sign ssh needs --signing-key"),
        (["--signing-key", "k"], "need --sign ssh|gpg"),
        (["--sign", "ssh", "--signing-key", "/nonexistent"], "no such file"),
    ],
)
def test_bad_message_and_signing_options_exit_2(
    path_world: World, capsys: pytest.CaptureFixture[str], args: list[str], problem: str
) -> None:
    """A malformed combination of the options: exit 2, one line saying what is wrong,
    nothing committed."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    code = main(["commit", str(app), *args])
    assert code == ExitCode.BAD_INPUT
    assert problem in capsys.readouterr().err
    assert git(app, "rev-list", "--count", "HEAD") == "1"


# --- the configuration file ---------------------------------------------------------------


def _config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "git-reconcile.toml"
    path.write_text(text)
    return path


def test_the_llm_table_and_the_signing_keys_make_the_policy(tmp_path: Path) -> None:
    """`[commit.llm]` makes the generator and `sign`/`signing_key` the signer (the key
    relative to the file); `[repos.commit]` replaces them for its repository."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "signing").write_text("key\n")
    (tmp_path / "other").mkdir()
    path = _config(
        tmp_path,
        """
[commit]
sign = "ssh"
signing_key = "keys/signing"

[commit.llm]
base_url = "http://127.0.0.1:11434/v1"
model = "qwen2.5-coder:7b"
timeout = 5
concurrency = 2

[[repos]]
path = "data"

[[repos]]
path = "other"

[repos.commit]
sign = "gpg"
signing_key = "0123456789ABCDEF"

[repos.commit.llm]
base_url = "http://127.0.0.1:8080/v1"
model = "local"
""",
    )
    data, other = (repo.spec for repo in load_config(path, environ={}).repos)
    assert data is not None
    assert other is not None
    signer, generator = data.commit_policy.signer, data.commit_policy.generator
    assert isinstance(signer, SSHSigner)
    assert signer.key == tmp_path / "keys" / "signing"
    assert isinstance(generator, LLMGenerator)
    assert generator.name == "llm:qwen2.5-coder:7b"
    assert (generator.config.timeout, generator.config.concurrency) == (5, 2)
    signer, generator = other.commit_policy.signer, other.commit_policy.generator
    assert isinstance(signer, GPGSigner)
    assert signer.key_id == "0123456789ABCDEF"
    assert isinstance(generator, LLMGenerator)
    assert generator.name == "llm:local"
    assert generator.config.timeout == 10


def test_bad_llm_and_signing_keys_are_reported_at_their_keys(tmp_path: Path) -> None:
    """Each problem names its key's full path."""
    path = _config(
        tmp_path,
        """
[commit]
signing_key = "k"
gpg_home = "gnupg"

[commit.llm]
base_url = "ftp://127.0.0.1/v1"
model = "m"
temperatur = 1

[[repos]]
path = "data"

[repos.commit]
sign = "pgp"
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text = str(caught.value)
    assert "commit.signing_key: only with sign" in text
    assert "commit.llm.temperatur: unknown key" in text
    assert "repos[0].commit.sign: expected one of 'ssh' or 'gpg'" in text


def test_an_llm_base_url_that_is_no_url_is_reported(tmp_path: Path) -> None:
    """A base_url the value object refuses is blamed on the key."""
    path = _config(
        tmp_path,
        '[commit.llm]\nbase_url = "ftp://x/v1"\nmodel = "m"\n\n[[repos]]\npath = "data"\n',
    )
    with pytest.raises(ConfigError, match=r"commit\.llm\.base_url: 'ftp://x/v1': give the API's"):
        load_config(path, environ={})
