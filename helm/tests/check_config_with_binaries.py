"""Starts each container of rendered manifests the way its pod would, with the
locally built Tidings binaries, to prove they accept the configuration.

For every Deployment, StatefulSet and Job: the ConfigMap mounted at
/etc/tidings is written to a temporary directory, the container's env is
resolved (downward API fields get stand-in values, Secret keys get dummies of
the right shape, $(VAR) references are expanded), and its command runs with
its args. Secret and ConfigMap volumes are written too: from the rendered
object, or with stand-ins for one named as external (a keys file, a JWKS,
a certificate, its key and the CA that signed it); paths under a mount in
the ConfigMap's files and in args point at the local copies. ScyllaDB and Redis
are pointed at a closed loopback port (no DNS
look-up, no traffic leaves the machine), so a process that accepted its
configuration fails later, connecting, or is still trying when stopped; a
rejected configuration prints `invalid configuration` (or another start-up
configuration error) and counts as a failure. Listen addresses are moved to
127.0.0.1:0 so nothing binds a fixed port. A missing binary is a failure.

Exec probes (`tidings health`, the chart's probes with grpc.tls) run the
same way, with the container's env and files and the address they check
moved to the closed port: the check they make fails, but the configuration
and the TLS files must load (a problem is reported as `invalid
configuration`).

The server API keys file (server_api.keys_file) is read by tidings-logic only
after ScyllaDB answers, so it would never be checked here: for tidings-logic
the file must exist among the mounts, must hold only `keys`, and its keys are
copied into the config's [server_api] keys, which the binary checks on load
(hashes, scopes, unique names, unknown fields).

Usage: python check_config_with_binaries.py --bin-dir DIR RENDERED.yaml
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}
# Printed by the binaries when the configuration itself is wrong.
CONFIG_ERRORS = ("invalid configuration", "must be set when listening", "cannot start:",
                 "server_api.keys_file", "server_api keys")
LISTEN_KEYS = ("GATEWAY_WS", "GATEWAY_GRPC", "LOGIC", "SEQUENCE", "STORE", "SYNC", "METRICS", "SERVER_API")
# Binaries that serve the server API and read server_api.keys_file.
SERVER_API_BINARIES = {"tidings-logic"}
# A stand-in keys file (server_api.keys_file) for a Secret outside the chart.
STAND_IN_KEYS = 'keys = [{ name = "stand-in", sha256 = "' + "0" * 64 + '", scopes = ["read"] }]\n'
TIMEOUT_SECONDS = 20
# Nothing listens there: connections are refused at once.
CLOSED = "127.0.0.1:1"
# A stand-in JWKS for a Secret or ConfigMap outside the chart: one Ed25519
# public key (RFC 8037, appendix A.2), which the gateway accepts as usable.
STAND_IN_JWKS = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "stand-in", "alg": "EdDSA",
                                      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}) + "\n"


def stand_in(env: dict, workload: dict) -> str | None:
    source = env["valueFrom"]
    if "fieldRef" in source:
        path = source["fieldRef"]["fieldPath"]
        return {
            "metadata.name": f"{workload['metadata']['name']}-0",
            "metadata.namespace": workload["metadata"].get("namespace", "default"),
            "status.podIP": "10.1.2.3",
        }.get(path, "stand-in")
    if "secretKeyRef" in source:
        key = source["secretKeyRef"]["key"]
        if "redis" in key:  # the URL, or the Cluster seed list
            return f"redis://:secret@{CLOSED}"
        if "jwt" in key:  # the gateway's HS secret: at least 32 bytes
            return "stand-in-jwt-secret-of-at-least-32-bytes"
        return "stand-in-credential"
    return None


def expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def localise(arg: str, mount_map: dict[str, str]) -> str:
    """A path under a mounted directory, as the local copy's path."""
    for path, directory in mount_map.items():
        if arg.startswith(path + "/"):
            return directory + arg[len(path):]
    return arg


def localise_text(text: str, mount_map: dict[str, str]) -> str:
    """Quoted paths under a mounted directory in a file, as the local copies' paths."""
    for path, directory in mount_map.items():
        text = text.replace(f'"{path}/', f'"{directory}/')
    return text


def volume_files(volume: dict, secrets: dict[str, dict[str, str]],
                 config_maps: dict[str, dict[str, str]]) -> dict[str, str] | None:
    """The files of a Secret or ConfigMap volume: the rendered object's, or
    stand-ins (None when it is not rendered and names no items)."""
    if "secret" in volume:
        source = volume["secret"]
        data = secrets.get(source["secretName"])
    else:
        source = volume["configMap"]
        data = config_maps.get(source["name"])
    items = source.get("items")
    if data is None:
        if not items:
            return None
        return {i["path"]: stand_in_file(i["path"]) for i in items}
    if not items:
        return dict(data)
    return {i["path"]: data[i["key"]] for i in items if i["key"] in data}


_tls_files: dict[str, str] = {}


def tls_files() -> dict[str, str]:
    """A CA (ca.crt) and a certificate it signed (tls.crt, tls.key) for the
    stand-in name, usable to serve and as a client (as grpc.tls needs),
    made once with openssl."""
    if _tls_files:
        return _tls_files
    with tempfile.TemporaryDirectory() as work:
        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=work)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *ec, "-subj", "/CN=stand-in-ca", "-days", "1", "-keyout", "ca.key",
                "-out", "ca.crt")
        openssl("req", *ec, "-subj", "/CN=stand-in", "-keyout", "tls.key", "-out", "tls.csr")
        with open(os.path.join(work, "ext.cnf"), "w", encoding="utf-8") as f:
            f.write("subjectAltName=DNS:stand-in\nextendedKeyUsage=serverAuth,clientAuth\n"
                    "basicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", "ext.cnf", "-out", "tls.crt")
        for name in ("ca.crt", "tls.crt", "tls.key"):
            with open(os.path.join(work, name), encoding="utf-8") as f:
                _tls_files[name] = f.read()
    return _tls_files


def stand_in_file(path: str) -> str:
    """A stand-in file of a Secret or ConfigMap outside the chart: a keys
    file, a JWKS, a TLS certificate, key or CA bundle (gateway.tls,
    grpc.tls, serverApi.tls: real PEM, as the binaries load them at start),
    or a credential."""
    if path.endswith(".toml"):
        return STAND_IN_KEYS
    if path.endswith(".json"):
        return STAND_IN_JWKS
    if path in ("tls.crt", "tls.key", "ca.crt"):
        return tls_files()[path]
    return "stand-in-credential"


def toml_value(value) -> str:
    """A value read by tomllib, written back as TOML (strings as JSON strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def with_keys_file_inlined(text: str) -> tuple[str, str | None]:
    """tidings.toml with the keys of its server_api.keys_file copied into
    [server_api] keys, and a problem with that file (or None)."""
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text, None  # the binary reports it
    path = config.get("server_api", {}).get("keys_file", "")
    if not path:
        return text, None
    if not os.path.isfile(path):
        return text, f"server_api.keys_file {path} is not among the container's mounts"
    try:
        with open(path, "rb") as f:
            keys_file = tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        return text, f"server_api.keys_file is not valid TOML: {error}"
    if set(keys_file) - {"keys"} or not isinstance(keys_file.get("keys", []), list):
        return text, f"server_api.keys_file must hold only `keys = [...]`, has {sorted(keys_file)}"
    keys = keys_file.get("keys", [])
    if not keys or "keys" in config["server_api"]:
        return text, None
    inlined = f"keys = {toml_value(keys)}"
    return re.sub(r"(?m)^\[server_api\][ \t]*$", lambda m: m.group(0) + "\n" + inlined, text, count=1), None


def run(where: str, what: str, command: list[str], env: dict[str, str], scratch: str) -> bool:
    """Runs one command of a container; False when its binary is missing or
    it rejects its configuration."""
    if not os.access(command[0], os.X_OK):
        print(f"  FAIL {where}: {what}: no binary {command[0]} (build it, or set TIDINGS_BIN_DIR)")
        return False
    try:
        result = subprocess.run(command, check=False, env=env, cwd=scratch, capture_output=True, text=True,
                                timeout=TIMEOUT_SECONDS)
        output = result.stdout + result.stderr
        outcome = f"exited {result.returncode}"
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode() + (expired.stderr or b"").decode()
        outcome = f"still running after {TIMEOUT_SECONDS} s (stopped)"
    rejected = [line for line in output.splitlines() if any(e in line for e in CONFIG_ERRORS)]
    if rejected:
        print(f"  FAIL {where}: {what}: configuration rejected:")
        for line in rejected:
            print(f"         {line.strip()}")
        return False
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    print(f"  ok   {where}: {what}: configuration accepted; {outcome}: {last[:160]}")
    return True


def probe_commands(container: dict) -> list[list[str]]:
    """The distinct commands of the container's exec probes."""
    commands: list[list[str]] = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container.get(kind, {}).get("exec", {}).get("command")
        if command and command not in commands:
            commands.append(command)
    return commands


def run_container(workload: dict, config_maps: dict, secrets: dict, bin_dir: str, scratch: str) -> bool:
    spec = workload["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    ok = True
    for container in spec["containers"]:
        where = f"{workload['kind']}/{workload['metadata']['name']} ({container['name']})"
        serves_api = container["command"][0] in SERVER_API_BINARIES
        mount_map, files = {}, {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "configMap" not in volume and "secret" not in volume:
                continue
            contents = volume_files(volume, secrets, config_maps)
            directory = os.path.join(scratch, workload["metadata"]["name"], container["name"], mount["name"])
            os.makedirs(directory, exist_ok=True)
            mount_map[mount["mountPath"]] = directory
            files[directory] = (contents or {}, "tidings.toml" in (contents or {}))
        # The config file last: its keys file is read while it is written.
        for directory, (contents, is_config) in sorted(files.items(), key=lambda item: item[1][1]):
            for key, text in contents.items():
                if is_config:
                    text = localise_text(text, mount_map)
                    if serves_api and key == "tidings.toml":
                        text, problem = with_keys_file_inlined(text)
                        if problem:
                            ok = False
                            print(f"  FAIL {where}: {problem}")
                with open(os.path.join(directory, key), "w", encoding="utf-8") as f:
                    f.write(text)
        env: dict[str, str] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for item in container.get("env", []):
            value = item.get("value")
            if value is None:
                value = stand_in(item, workload)
            if value is not None:
                env[item["name"]] = expand(value, env)
        for key in LISTEN_KEYS:
            env[f"TIDINGS__LISTEN__{key}"] = "127.0.0.1:0"
        env["TIDINGS__SCYLLA__CONTACT_POINTS"] = CLOSED

        command = [os.path.join(bin_dir, container["command"][0]), *container["command"][1:]]
        command += [localise(a, mount_map) for a in container.get("args", [])]
        ok &= run(where, "command", command, env, scratch)
        for probe in probe_commands(container):
            # The address checked (the last argument) is moved to the closed
            # port: nothing this machine runs is called.
            probe_command = [os.path.join(bin_dir, probe[0]), *(localise(a, mount_map) for a in probe[1:-1]), CLOSED]
            ok &= run(where, f"probe `{' '.join(probe[:2])}`", probe_command, env, scratch)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("manifests")
    args = parser.parse_args()
    with open(args.manifests, encoding="utf-8") as f:
        objects = [doc for doc in yaml.safe_load_all(f) if doc]
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    secrets = {
        o["metadata"]["name"]: {
            **{k: base64.b64decode(v).decode() for k, v in (o.get("data") or {}).items()},
            **(o.get("stringData") or {}),
        }
        for o in objects
        if o["kind"] == "Secret"
    }
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        for workload in (o for o in objects if o["kind"] in WORKLOAD_KINDS):
            ok &= run_container(workload, config_maps, secrets, os.path.abspath(args.bin_dir), scratch)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
