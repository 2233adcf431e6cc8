"""Structural checks of deploy/: compose.yaml, the example configs and the
Dockerfile, beyond what the compose-spec JSON schema covers.

- compose.yaml: every Tidings container is built from deploy/Dockerfile with
  the repository as context and one image tag; its entrypoint is a binary the
  image ships; depends_on names existing services and has no cycle; config
  files exist; host ports are unique and the two gateways publish 7400 and
  7410; TIDINGS__ variables and peers name documented keys and compose
  services.
- deploy/config/*.toml: valid TOML using only keys tidings.example.toml
  documents.
- Dockerfile: parses (PyPI `dockerfile`, Docker's own parser); the builder
  uses the Rust version rust-toolchain.toml pins; the runtime stage runs as
  uid 10001, exposes 7400-7405 and 9090 (metrics), has an exec-form
  ENTRYPOINT, and ships every service binary the workspace builds; every COPY
  source is let through by Dockerfile.dockerignore.

With --bin-dir DIR (locally built binaries), every Tidings container of
compose.yaml and every deploy/config/*.toml is also started the way it would
run, to prove the binaries accept the configuration: ScyllaDB and Redis are
pointed at a closed loopback port and listen addresses at 127.0.0.1:0, so the
distributed services fail to connect (or are stopped after a while) and the
all-in-one starts on the embedded store in a scratch directory; any
`invalid configuration` error is a problem.

Usage: python check_deploy.py [--bin-dir DIR] REPO_ROOT   (exit 1 on any problem)
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import tomllib

import dockerfile
import yaml

SERVICE_BINARIES = {"tidings", "tidings-gateway", "tidings-logic", "tidings-sequence", "tidings-store", "tidings-sync"}
DISTRIBUTED_RUNS = [["tidings", "migrate"], ["tidings-sequence"], ["tidings-store"], ["tidings-sync"],
                    ["tidings-logic"], ["tidings-gateway"]]
# Printed by the binaries when the configuration itself is wrong.
CONFIG_ERRORS = ("invalid configuration", "must be set when listening", "cannot start:")
# Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}: stand-ins of a valid shape.
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")
STAND_IN_SERVICE_TOKEN = "stand-in-service-token-0123456789"
CLOSED = "127.0.0.1:1"  # nothing listens there: connections are refused at once
RUN_SECONDS = 15
problems: list[str] = []


def problem(where: str, message: str) -> None:
    problems.append(f"{where}: {message}")


def documented_keys(example_path: str) -> set[str]:
    """`section.key` of every key in tidings.example.toml, commented-out ones included."""
    keys, section = set(), ""
    with open(example_path, encoding="utf-8") as f:
        for line in f:
            header = re.match(r"^\s*\[([a-z_.]+)\]\s*$", line)
            if header:
                section = header.group(1)
                continue
            entry = re.match(r"^\s*#?\s*([a-z_]+)\s*=", line)
            if entry:
                keys.add(f"{section}.{entry.group(1)}" if section else entry.group(1))
    return keys


def check_toml(path: str, known: set[str]) -> dict:
    where = os.path.relpath(path)
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        problem(where, f"not valid TOML: {error}")
        return {}
    def flat(prefix: str, value) -> list[str]:
        if not isinstance(value, dict):
            return [prefix]
        return [key for k, v in value.items() for key in flat(f"{prefix}.{k}", v)]

    for section, value in config.items():
        for key in flat(section, value):
            if key not in known:
                problem(where, f"sets {key}, which tidings.example.toml does not document")
    return config


def env_key(name: str) -> str | None:
    """TIDINGS__SECTION__KEY -> section.key (None for other variables)."""
    if not name.startswith("TIDINGS__"):
        return None
    return ".".join(part.lower() for part in name[len("TIDINGS__"):].split("__"))


def check_compose(repo: str, known: set[str]) -> set[str]:
    """Checks compose.yaml and the config files it mounts; returns their paths."""
    compose_dir = os.path.join(repo, "deploy")
    where = "deploy/compose.yaml"
    with open(os.path.join(compose_dir, "compose.yaml"), encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    services = compose["services"]
    tidings = {name: s for name, s in services.items() if "build" in s}
    if not tidings:
        problem(where, "no service is built from deploy/Dockerfile")
    images = {s.get("image") for s in tidings.values()}
    if len(images) != 1:
        problem(where, f"Tidings services use several image tags {sorted(map(str, images))}; they share one image")
    for name, service in tidings.items():
        build = service["build"]
        context = os.path.normpath(os.path.join(compose_dir, build["context"]))
        if context != os.path.normpath(repo):
            problem(where, f"{name}: build context {build['context']!r} is not the repository root")
        if not os.path.isfile(os.path.join(context, build.get("dockerfile", "Dockerfile"))):
            problem(where, f"{name}: dockerfile {build.get('dockerfile')!r} not found in the context")
        binary = (service.get("entrypoint") or ["tidings"])[0]
        if binary not in SERVICE_BINARIES:
            problem(where, f"{name}: entrypoint {binary!r} is not a binary of the image")
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for variable, value in environment.items():
            key = env_key(variable)
            if key is not None and key not in known:
                problem(where, f"{name}: {variable} sets {key}, which tidings.example.toml does not document")
            if key and key.startswith("advertise."):
                host = str(value).rsplit(":", 1)[0]
                if host not in services:
                    problem(where, f"{name}: {variable}={value} names no compose service")
        for config in service.get("configs", []):
            source = config["source"] if isinstance(config, dict) else config
            if source not in compose.get("configs", {}):
                problem(where, f"{name}: config {source!r} is not declared")

    checked = set()
    for name, config in compose.get("configs", {}).items():
        path = os.path.normpath(os.path.join(compose_dir, config["file"]))
        if not os.path.isfile(path):
            problem(where, f"config {name}: {config['file']} does not exist")
            continue
        settings = check_toml(path, known)
        checked.add(path)
        peers = settings.get("peers", {})
        for peer in [*peers.get("sequence", []), *(peers[k] for k in ("store", "sync", "logic") if k in peers)]:
            if peer.rsplit(":", 1)[0] not in services:
                problem(os.path.relpath(path), f"peer {peer} names no compose service")

    # depends_on: targets exist, no cycle.
    graph = {}
    for name, service in services.items():
        depends = service.get("depends_on", {})
        graph[name] = list(depends) if isinstance(depends, (dict, list)) else []
        for target in graph[name]:
            if target not in services:
                problem(where, f"{name}: depends on unknown service {target!r}")
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == "done":
            return
        if state.get(node) == "active":
            problem(where, f"depends_on cycle: {' -> '.join(path + [node])}")
            return
        state[node] = "active"
        for target in graph.get(node, []):
            visit(target, path + [node])
        state[node] = "done"

    for node in graph:
        visit(node, [])

    published: dict[str, str] = {}
    gateway_ports = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            text = str(port)
            parts = text.split(":")
            host_port = parts[-2] if len(parts) >= 2 else parts[0]
            host = ":".join(parts[:-2]) if len(parts) > 2 else "0.0.0.0"
            key = f"{host}:{host_port}"
            if key in published:
                problem(where, f"{name} and {published[key]} both publish {key}")
            published[key] = name
            if (service.get("entrypoint") or [""])[0] == "tidings-gateway" and parts[-1] == "7400":
                gateway_ports[name] = int(host_port)
    if sorted(gateway_ports.values()) != [7400, 7410]:
        problem(where, f"gateways should publish 7400 and 7410, found {gateway_ports}")
    return checked


def dockerignore_allows(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.rstrip("/")
        body = body.removeprefix("**/")
        if fnmatch.fnmatch(path, body) or fnmatch.fnmatch(path.split("/")[0], body):
            allowed = negate
    return allowed


def check_dockerfile(repo: str) -> None:
    where = "deploy/Dockerfile"
    commands = dockerfile.parse_file(os.path.join(repo, "deploy", "Dockerfile"))
    with open(os.path.join(repo, "deploy", "Dockerfile.dockerignore"), encoding="utf-8") as f:
        ignore = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    with open(os.path.join(repo, "rust-toolchain.toml"), "rb") as f:
        pinned = tomllib.load(f)["toolchain"]["channel"]

    stages: list[list] = []
    args = {}
    for command in commands:
        if command.cmd == "FROM":
            stages.append([command])
        elif stages:
            stages[-1].append(command)
        elif command.cmd == "ARG" and "=" in command.value[0]:
            name, value = command.value[0].split("=", 1)
            args[name] = value
    if args.get("RUST_VERSION") != pinned:
        problem(where, f"RUST_VERSION {args.get('RUST_VERSION')!r} differs from rust-toolchain.toml's {pinned!r}")
    if len(stages) < 2:
        problem(where, "expected a builder and a runtime stage")
        return
    stage_names = {stage[0].value[2] for stage in stages if len(stage[0].value) == 3}
    for stage in stages:
        for command in stage:
            if command.cmd != "COPY":
                continue
            source_stage = next((f.split("=", 1)[1] for f in command.flags if f.startswith("--from=")), None)
            if source_stage is not None:
                if source_stage not in stage_names:
                    problem(where, f"COPY --from={source_stage}: no such stage")
                continue
            for source in command.value[:-1]:
                if not os.path.exists(os.path.join(repo, source)):
                    problem(where, f"COPY {source}: not in the repository")
                elif not dockerignore_allows(ignore, source):
                    problem(where, f"COPY {source}: excluded by Dockerfile.dockerignore")

    runtime = stages[-1]
    text = {c.cmd: c for c in runtime}
    if "USER" not in text or text["USER"].value[0].split(":")[0] != "10001":
        problem(where, "the runtime stage must run as uid 10001")
    exposed = {int(p.split("/")[0]) for c in runtime if c.cmd == "EXPOSE" for p in c.value}
    wanted = set(range(7400, 7406)) | {9090}  # the services, and metrics
    if not wanted <= exposed:
        problem(where, f"EXPOSE lacks {sorted(wanted - exposed)}")
    entrypoint = text.get("ENTRYPOINT")
    if entrypoint is None or not entrypoint.json or entrypoint.value[0] != "tidings":
        problem(where, 'ENTRYPOINT must be the exec form ["tidings"]')
    build_steps = " ".join(c.value[0] for c in stages[0] if c.cmd == "RUN")
    with open(os.path.join(repo, "crates", "tidings", "Cargo.toml"), "rb") as f:
        workspace_bins = {b["name"] for b in tomllib.load(f).get("bin", [])}
    for binary in sorted(workspace_bins):
        if not re.search(rf"(^|\s){re.escape(binary)}(\s|;|$)", build_steps):
            problem(where, f"the image does not ship {binary}")


def run_binary(where: str, bin_dir: str, argv: list[str], env: dict[str, str], scratch: str) -> None:
    """Runs one binary with `env` on top of the overrides; reports a rejected configuration."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    for key in ("GATEWAY_WS", "GATEWAY_GRPC", "LOGIC", "SEQUENCE", "STORE", "SYNC", "METRICS"):
        full_env[f"TIDINGS__LISTEN__{key}"] = "127.0.0.1:0"
    full_env["TIDINGS__SCYLLA__CONTACT_POINTS"] = CLOSED
    full_env["TIDINGS__REGISTRY__URL"] = f"redis://{CLOSED}"
    full_env["TIDINGS__DATA_DIR"] = os.path.join(scratch, "data")
    full_env["NO_COLOR"] = "1"
    # As a deployment's Secret would: the gateway refuses to start without a
    # token key (gateway.auth), unless the config chose development tokens.
    full_env.setdefault("TIDINGS__GATEWAY__AUTH__JWT__HS_SECRET", "check-deploy-secret-of-32-bytes-at-least")
    command = [os.path.join(bin_dir, argv[0]), *argv[1:]]
    # A process that gets as far as listening (the all-in-one) is stopped
    # with SIGTERM at once, as a container runtime would.
    with subprocess.Popen(command, env=full_env, cwd=scratch, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        lines: list[str] = []
        deadline = time.monotonic() + RUN_SECONDS
        outcome = ""
        ended = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                if not line:
                    ended = True
                    break
                lines.append(line)
                if " listening " in line and line.startswith("tidings"):
                    process.send_signal(signal.SIGTERM)
                    outcome = "listened, then stopped by SIGTERM"
                    break
        if not ended and not outcome:
            process.send_signal(signal.SIGTERM)
            outcome = f"still running after {RUN_SECONDS} s (stopped)"
        try:
            rest, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
            outcome += "; killed: did not stop within 10 s of SIGTERM"
        lines.append(rest or "")
        output = "".join(lines)
        outcome = outcome or f"exited {process.returncode}"
    rejected = [line.strip() for line in output.splitlines() if any(e in line for e in CONFIG_ERRORS)]
    if rejected:
        problem(where, "configuration rejected: " + " | ".join(rejected))
        print(f"  FAIL {where}")
    else:
        last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
        print(f"  ok   {where}: accepted; {outcome}: {last[:140]}")


def check_with_binaries(repo: str, bin_dir: str) -> None:
    compose_dir = os.path.join(repo, "deploy")
    with open(os.path.join(compose_dir, "compose.yaml"), encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    configs = {name: os.path.normpath(os.path.join(compose_dir, c["file"]))
               for name, c in compose.get("configs", {}).items()}
    with tempfile.TemporaryDirectory() as scratch:
        for name, service in compose["services"].items():
            if "build" not in service:
                continue
            mounts = {c["target"]: configs[c["source"]] for c in service.get("configs", []) if isinstance(c, dict)}
            argv = [*(service.get("entrypoint") or ["tidings"]), *service.get("command", [])]
            argv = [mounts.get(a, a) for a in argv]
            environment = {k: INTERPOLATION.sub(STAND_IN_SERVICE_TOKEN, str(v))
                           for k, v in (service.get("environment") or {}).items()}
            run_binary(f"compose service {name}", bin_dir, argv, environment, scratch)
        config_dir = os.path.join(repo, "deploy", "config")
        for file in sorted(os.listdir(config_dir)):
            path = os.path.join(config_dir, file)
            if not file.endswith(".toml") or path in configs.values():
                continue
            with open(path, "rb") as f:
                embedded = tomllib.load(f).get("storage", {}).get("backend", "embedded") == "embedded"
            runs = [["tidings", "run"]] if embedded else DISTRIBUTED_RUNS
            extra = {} if embedded else {"TIDINGS__ADVERTISE__GATEWAY_GRPC": "10.0.1.31:7401",
                                         "TIDINGS__ADVERTISE__SEQUENCE": "10.0.1.21:7403",
                                         "TIDINGS__GRPC__SERVICE_TOKEN": STAND_IN_SERVICE_TOKEN}
            for run in runs:
                run_binary(f"deploy/config/{file} with {' '.join(run)}", bin_dir,
                           [*run, "--config", path], extra, scratch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir")
    parser.add_argument("repo", nargs="?", default=".")
    args = parser.parse_args()
    repo = os.path.abspath(args.repo)
    os.chdir(repo)
    known = documented_keys(os.path.join(repo, "tidings.example.toml"))
    checked = check_compose(repo, known)
    config_dir = os.path.join(repo, "deploy", "config")
    for name in sorted(os.listdir(config_dir)):
        path = os.path.join(config_dir, name)
        if name.endswith(".toml") and path not in checked:
            check_toml(path, known)
    check_dockerfile(repo)
    if args.bin_dir:
        print("configurations started with the binaries in", args.bin_dir)
        check_with_binaries(repo, os.path.abspath(args.bin_dir))
    unique = list(dict.fromkeys(problems))
    if unique:
        print(f"{len(unique)} problem(s):")
        for line in unique:
            print(f"  - {line}")
        return 1
    print("compose.yaml, deploy/config/*.toml and the Dockerfile are consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
