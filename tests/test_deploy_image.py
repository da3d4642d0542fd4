"""deploy/Dockerfile's steps, run for real without a container engine.

No image can be built on these machines, so the Dockerfile is read and its steps
run here instead, each container path laid under one temporary root: the build
stage's COPY (through the ignore file) and RUN build the wheels; the runtime
stage's user step is checked and its directories made, its install RUN makes a
fresh virtual environment from those wheels alone; then its ENTRYPOINT and CMD
start ``serve`` with its ENV and WORKDIR, as its USER (an unprivileged uid when the
tests run as root), on the example configuration with its ``url`` pointed at a real
remote over SSH, from an empty repositories volume (the first start clones it), with
the key laid out as a Kubernetes Secret lays it.
A step the runner does not know fails the test, so the Dockerfile and this test
cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from deployfiles import Instruction, Stage, ignored, parse, substitute
from gitutil import World, git
from servers._process import free_port, kill_group

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
# The image's own directories. Container paths under them are laid under the
# temporary root; any other absolute path in a step fails the test.
IMAGE_DIRS = (
    "/src",
    "/wheels",
    "/opt/git-reconcile",
    "/etc/git-reconcile",
    "/var/lib",
    "/srv/git-reconcile",
    "/run/secrets/git-reconcile",
)
_IMAGE_PATH = re.compile(
    r"(?<![\w./-])(" + "|".join(re.escape(d) for d in IMAGE_DIRS) + r")(?=[/\s'\":]|$)"
)
_ABSOLUTE = re.compile(r"(?<![\w.:/-])/[\w./-]+")
# The base image's PATH, before the Dockerfile's ENV puts the venv first.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STEP_TIMEOUT = 300.0  # one RUN step: resolving and fetching the dependencies' wheels
START_TIMEOUT = 90.0

pytestmark = pytest.mark.timeout(900)


@dataclass
class Image:
    """What the runtime stage leaves: its files under ``root``, its user's ids (the
    processes run as them when the tests run as root), and how it starts."""

    root: Path
    uid: int
    gid: int
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    argv: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    port: int = 0

    def host(self, text: str) -> str:
        """``text`` with the image's container paths moved under ``root``."""
        return _IMAGE_PATH.sub(lambda m: f"{self.root}{m.group(1)}", text)


def _as_root() -> bool:
    return os.geteuid() == 0


def _world_usable(path: Path) -> bool:
    """Whether any user may run ``path``: every folder above it searchable by others."""
    path = path.resolve()
    folders_ok = all(p.stat().st_mode & 0o001 for p in path.parents)
    return folders_ok and path.stat().st_mode & 0o005 == 0o005


def _base_python() -> str:
    """The interpreter standing in for the base image's ``python``: this one, unless
    the image's user could not run it (this machine keeps it under /root), then a
    system Python of the same minor version."""
    here = Path(getattr(sys, "_base_executable", sys.executable))
    if not _as_root() or _world_usable(here):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path("/usr/local/bin") / version, Path("/usr/bin") / version):
        if candidate.is_file() and _world_usable(candidate):
            return str(candidate)
    pytest.fail(f"no {version} that an unprivileged user can run (apt-get install {version}-venv)")


def _step_env(root: Path, stage: str, python: str) -> dict[str, str]:
    """The environment of a RUN step: the network's trust settings of this machine,
    ``python`` meaning ``python``, and none of pip's local configuration (its extra
    indexes and wheel folders), which an image build would not have."""
    shims = root / ".shims" / stage
    shims.mkdir(parents=True)
    shim = shims / "python"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env |= {"PATH": f"{shims}:{BASE_PATH}", "PIP_CONFIG_FILE": os.devnull}
    env.pop("VIRTUAL_ENV", None)
    return env


def _run(image: Image, step: Instruction, cwd: Path, env: dict[str, str]) -> None:
    for path in _ABSOLUTE.findall(step.text):
        assert _IMAGE_PATH.match(path), f"Dockerfile line {step.line}: {path} is not laid out here"
    command = image.host(step.text)
    done = subprocess.run(
        ["/bin/sh", "-ec", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=STEP_TIMEOUT,
    )
    if done.returncode != 0:
        pytest.fail(f"Dockerfile line {step.line} failed:\n{command}\n{done.stderr[-4000:]}")


def _copy(image: Image, step: Instruction, cwd: Path) -> None:
    """COPY from the build context, through the ignore file."""
    patterns = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    *sources, dest = step.text.split()
    target = cwd / dest
    for source in sources:
        origin = ROOT / source
        files = (
            [origin] if origin.is_file() else sorted(p for p in origin.rglob("*") if p.is_file())
        )
        for path in files:
            relative = path.relative_to(ROOT).as_posix()
            if ignored(relative, patterns):
                continue
            inside = target / path.name if origin.is_file() else target / path.relative_to(origin)
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, inside)


def _build_stage(image: Image, stage: Stage, env: dict[str, str]) -> None:
    cwd = image.root
    for step in stage.instructions:
        if step.keyword == "WORKDIR":
            cwd = Path(image.host(step.text))
            cwd.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY" and not step.flags:
            _copy(image, step, cwd)
        elif step.keyword == "RUN" and not step.flags:
            _run(image, step, cwd, env)
        else:
            pytest.fail(f"Dockerfile line {step.line}: this test cannot run {step.keyword}")


def _user_step(image: Image, step: Instruction, args: dict[str, str], home: str) -> None:
    """The step that makes the image's user: checked, and its directories made."""
    for command in substitute(step.text, args).split("&&"):
        words = shlex.split(command)
        if words[0] == "groupadd":
            assert words[words.index("--gid") + 1] == str(image.gid)
        elif words[0] == "useradd":
            assert words[words.index("--uid") + 1] == str(image.uid)
            assert words[words.index("--gid") + 1] == str(image.gid)
            assert words[words.index("--home-dir") + 1] == home
        elif words[:2] == ["install", "-d"]:
            _install_dirs(image, words[2:])
        else:
            pytest.fail(f"Dockerfile line {step.line}: this test cannot run {words[0]}")


def _install_dirs(image: Image, words: list[str]) -> None:
    """``install -d -o OWNER -g GROUP -m MODE DIR...``, as root; the mode alone otherwise."""
    options: dict[str, str] = {}
    while words[0].startswith("-"):
        options[words[0]], words = words[1], words[2:]
    assert set(options) == {"-o", "-g", "-m"}, options
    for folder in words:
        path = Path(image.host(folder))
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(int(options["-m"], 8))
        if _as_root():
            owner = 0 if options["-o"] == "root" else int(options["-o"])
            os.chown(path, owner, int(options["-g"]))


def _mount_run(image: Image, step: Instruction, env: dict[str, str]) -> None:
    """A RUN with the build stage's wheels bind-mounted: the same folder here."""
    mount = dict(part.partition("=")[::2] for part in (step.flag("mount") or "").split(","))
    assert (mount["type"], mount["from"]) == ("bind", "build"), step.text
    assert mount["source"] == mount["target"], "the wheels are read where the build put them"
    _run(image, step, image.root, env)


def _runtime_stage(image: Image, stage: Stage, env: dict[str, str]) -> None:
    args = {name: value for i in stage.all("ARG") for name, value in i.assignments()}
    home = dict(pair for i in stage.all("ENV") for pair in i.assignments())["HOME"]
    launch: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    for step in stage.instructions:
        if step.keyword == "RUN" and "useradd" in step.text:
            _user_step(image, step, args, home)
        elif step.keyword == "RUN" and step.flag("mount"):
            _mount_run(image, step, env)
        elif step.keyword in launch:
            launch[step.keyword] = step.exec_form()
        else:
            _runtime_setting(image, step, args)
    image.argv = [image.host(a) for a in launch["ENTRYPOINT"] + launch["CMD"]]


def _runtime_setting(image: Image, step: Instruction, args: dict[str, str]) -> None:
    """An instruction that sets how the image starts, rather than what it holds."""
    if step.keyword == "ENV":
        for name, value in step.assignments():
            image.env[name] = image.host(substitute(value, {"PATH": BASE_PATH} | image.env))
    elif step.keyword == "USER":
        assert substitute(step.text, args) == f"{image.uid}:{image.gid}"
    elif step.keyword == "WORKDIR":
        image.workdir = Path(image.host(step.text))
    elif step.keyword == "VOLUME":
        missing = [v for v in json.loads(step.text) if not Path(image.host(v)).is_dir()]
        assert not missing, f"the user step makes no {missing}"
    elif step.keyword == "EXPOSE":
        image.port = int(step.text)
    elif step.keyword == "HEALTHCHECK":
        assert step.text.startswith("CMD [")
        image.healthcheck = json.loads(step.text[4:])
    elif step.keyword != "ARG":
        pytest.fail(f"Dockerfile line {step.line}: this test cannot run {step.keyword} {step.text}")


@pytest.fixture(scope="session")
def image() -> Iterator[Image]:
    """The runtime stage laid out under a temporary root, built once per session."""
    stages = parse(DOCKERFILE)
    [base, build, runtime] = stages
    assert not base.instructions
    assert (build.name, runtime.name) == ("build", None)
    args = {name: value for i in runtime.all("ARG") for name, value in i.assignments()}
    root = Path(tempfile.mkdtemp(prefix="git-reconcile-image-"))
    root.chmod(0o755)  # the unprivileged user walks it, as it does the image's /
    try:
        built = Image(root, int(args["UID"]), int(args["GID"]))
        _build_stage(built, build, _step_env(root, "build", sys.executable))
        _runtime_stage(built, runtime, _step_env(root, "runtime", _base_python()))
        yield built
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _as_image_user(image: Image) -> dict[str, Any]:
    """How a process runs as the image's USER (only root can switch to it)."""
    if not _as_root():
        return {}
    return {"user": image.uid, "group": image.gid, "extra_groups": []}


def _lay_volumes(image: Image, world: World) -> Path:
    """Fill the volumes as an operator would: the configuration (its ``url`` pointed at
    the test's remote), the SSH key and known_hosts as a Kubernetes Secret mounts them
    (root's files, group-readable through fsGroup, mode 0440), and nothing in the
    repositories volume: the first start clones. Returns where the clone will be."""
    text = (DEPLOY / "config.toml").read_text()
    [url] = {repo["url"] for repo in tomllib.loads(text)["repos"]}
    config = Path(image.host("/etc/git-reconcile/config.toml"))
    config.write_text(image.host(text.replace(f'"{url}"', f'"{world.url}"')))
    secrets = Path(image.host("/run/secrets/git-reconcile"))
    secrets.mkdir(parents=True)
    shutil.copy(world.ssh.client_key_path, secrets / "id_ed25519")
    shutil.copy(world.ssh.known_hosts_path, secrets / "known_hosts")
    for path in (secrets / "id_ed25519", secrets / "known_hosts"):
        path.chmod(0o440)
        if _as_root():
            os.chown(path, 0, image.gid)
    clone = Path(image.host("/srv/git-reconcile/data"))
    assert not clone.exists()
    assert list(clone.parent.iterdir()) == []
    return clone


def _started(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Application startup complete" in line:
            return "".join(lines)
    raise AssertionError("serve exited early:\n" + "".join(lines))


def test_the_image_serves_as_its_user(image: Image, ssh_world: World) -> None:
    """Installed from the wheel alone and started by the image's own command as its
    unprivileged user on an empty repositories volume, serve clones the remote over
    SSH, reconciles at boot, answers /health and /ready with 200, passes the image's
    HEALTHCHECK, and keeps its audit store in the data volume, where `git-reconcile
    history` finds the boot run."""
    world = ssh_world
    clone = _lay_volumes(image, world)
    pushed = world.remote_commit({"data.txt": "from the remote\n"}, "pushed before boot")
    secrets = {"RECONCILE_ADMIN_TOKEN": "adm1n-token", "GITHUB_WEBHOOK_SECRET": "hook-secret"}
    env = image.env | secrets
    port = free_port()
    argv = list(image.argv)
    host = argv.index("--host")
    assert argv[host + 1] == "0.0.0.0"
    argv[host + 1] = "127.0.0.1"  # the tests listen on loopback only
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable is not None, argv[0]
    assert executable.startswith(str(image.root)), executable
    proc = subprocess.Popen(
        [executable, *argv[1:], "--port", str(port)],
        cwd=image.workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **_as_image_user(image),
    )
    try:
        _started(proc)
        if _as_root():
            assert Path(f"/proc/{proc.pid}").stat().st_uid == image.uid
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
        status = httpx.get(f"{base}/status", timeout=10).json()
        result = status["repos"]["data"]["last_run"]["result"]
        assert (result["outcome"], result["new_commit"]) == ("in-sync", pushed), result
        if _as_root():  # the first start's clone is the service user's own
            assert clone.stat().st_uid == image.uid
        # The clone is the service user's: git refuses it to anyone else unless told.
        assert git(clone, "-c", f"safe.directory={clone}", "rev-parse", "main") == pushed

        check = [
            a.replace(f"127.0.0.1:{image.port}/", f"127.0.0.1:{port}/") for a in image.healthcheck
        ]
        assert check != image.healthcheck, "the HEALTHCHECK asks the EXPOSEd port"
        healthy = subprocess.run(
            [shutil.which(check[0], path=env["PATH"]) or check[0], *check[1:]],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            **_as_image_user(image),
        )
        assert healthy.returncode == 0, healthy.stderr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        finally:
            kill_group(proc)
            assert proc.stdout is not None
            proc.stdout.close()

    store = Path(image.host("/var/lib/git-reconcile/audit.sqlite3"))
    assert store.is_file()
    if _as_root():
        assert store.stat().st_uid == image.uid
    history = subprocess.run(
        [executable, "history", "--json"],
        cwd=image.workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        **_as_image_user(image),
    )
    [run] = json.loads(history.stdout)
    assert (run["repo"], run["triggers"], run["result"]["outcome"]) == (
        "data",
        ["boot"],
        "in-sync",
    )
