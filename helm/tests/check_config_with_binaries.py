"""Starts each container of rendered manifests the way its pod would, with the
locally built Tidings binaries, to prove they accept the configuration.

For every Deployment, StatefulSet and Job: the ConfigMap mounted at
/etc/tidings is written to a temporary directory, the container's env is
resolved (downward API fields get stand-in values, Secret keys get dummies of
the right shape, $(VAR) references are expanded), and its command runs with
its args. ScyllaDB and Redis are pointed at a closed loopback port (no DNS
look-up, no traffic leaves the machine), so a process that accepted its
configuration fails later, connecting, or is still trying when stopped; a
rejected configuration prints `invalid configuration` (or another start-up
configuration error) and counts as a failure. Listen addresses are moved to
127.0.0.1:0 so nothing binds a fixed port.

Usage: python check_config_with_binaries.py --bin-dir DIR RENDERED.yaml
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}
# Printed by the binaries when the configuration itself is wrong.
CONFIG_ERRORS = ("invalid configuration", "must be set when listening")
LISTEN_KEYS = ("GATEWAY_WS", "GATEWAY_GRPC", "LOGIC", "SEQUENCE", "STORE", "SYNC", "METRICS")
TIMEOUT_SECONDS = 20
# Nothing listens there: connections are refused at once.
CLOSED = "127.0.0.1:1"


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


def run_container(workload: dict, config_maps: dict, bin_dir: str, scratch: str) -> bool:
    spec = workload["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    ok = True
    for container in spec["containers"]:
        where = f"{workload['kind']}/{workload['metadata']['name']} ({container['name']})"
        mount_map = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                directory = os.path.join(scratch, workload["metadata"]["name"], mount["name"])
                os.makedirs(directory, exist_ok=True)
                for key, text in config_maps[volume["configMap"]["name"]].items():
                    with open(os.path.join(directory, key), "w", encoding="utf-8") as f:
                        f.write(text)
                mount_map[mount["mountPath"]] = directory
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
            ok = False
            print(f"  FAIL {where}: configuration rejected:")
            for line in rejected:
                print(f"         {line.strip()}")
        else:
            last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
            print(f"  ok   {where}: configuration accepted; {outcome}: {last[:160]}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("manifests")
    args = parser.parse_args()
    with open(args.manifests, encoding="utf-8") as f:
        objects = [doc for doc in yaml.safe_load_all(f) if doc]
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    ok = True
    with tempfile.TemporaryDirectory() as scratch:
        for workload in (o for o in objects if o["kind"] in WORKLOAD_KINDS):
            ok &= run_container(workload, config_maps, os.path.abspath(args.bin_dir), scratch)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
