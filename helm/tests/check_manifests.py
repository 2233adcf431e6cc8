"""Checks manifests rendered by `helm template` from the tidings chart, offline.

1. Every object is validated against the Kubernetes JSON schemas of each
   requested version (PyPI's kubernetes-validate, strict: unknown fields are
   errors). CRD kinds have no built-in schema: the ServiceMonitor is checked
   against the subset of monitoring.coreos.com/v1 that the chart uses.
2. The objects are checked against each other: selectors match pod labels,
   Service target ports, probe ports and NetworkPolicy ports exist, every
   referenced ConfigMap and Secret is rendered (or named as external), every
   file tidings.toml names under a mounted directory is mounted, HPAs
   target Deployments that leave `replicas` to them, $(VAR) references in env
   values name variables defined earlier, every service container exposes the
   `metrics` port tidings.toml listens on when metrics are on, and
   tidings.toml parses, uses only documented keys and lists one sequence peer
   per replica.

Usage: python check_manifests.py --kube-version 1.27 [--kube-version ...]
           [--external-secret NAME] [--external-config-map NAME]
           [--example-config tidings.example.toml]
           RENDERED.yaml
Exit status: 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field

import jsonschema
import kubernetes_validate
import yaml

# CRDs the chart may render, with the fields it sets (anything else is an error).
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
                "namespace": {"type": "string", "minLength": 1},
                "labels": _LABELS,
                "annotations": _LABELS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _LABELS, "matchExpressions": {"type": "array"}},
                },
                "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                "targetLabels": {"type": "array", "items": {"type": "string"}},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                        },
                    },
                },
            },
        },
    },
}
CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_SCHEMA}

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    checked: int = 0

    def fail(self, where: str, message: str) -> None:
        self.failures.append(f"{where}: {message}")


def name_of(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def validate_schemas(objects: list[dict], versions: list[str], report: Report) -> None:
    for obj in objects:
        where = name_of(obj)
        crd = CRD_SCHEMAS.get((obj.get("apiVersion"), obj.get("kind")))
        if crd is not None:
            errors = sorted(jsonschema.Draft7Validator(crd).iter_errors(obj), key=str)
            for error in errors:
                path = "/".join(str(p) for p in error.absolute_path)
                report.fail(where, f"CRD structure at '{path}': {error.message}")
            print(f"  {'FAIL' if errors else 'ok  '} {where} (CRD: checked against the chart's subset of its schema)")
            report.checked += 1
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = "/".join(str(p) for p in error.path)
                report.fail(where, f"Kubernetes {version} schema at '{path}': {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                report.fail(where, error.message)
        print(f"  ok   {where}" if not any(f.startswith(where + ":") for f in report.failures) else f"  FAIL {where}")
        report.checked += 1


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in WORKLOAD_KINDS:
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def container_ports(spec: dict) -> tuple[set[str], set[int]]:
    names, numbers = set(), set()
    for container in spec["containers"]:
        for port in container.get("ports", []):
            numbers.add(port["containerPort"])
            if "name" in port:
                names.add(port["name"])
    return names, numbers


def port_exists(port, names: set[str], numbers: set[int]) -> bool:
    return port in names if isinstance(port, str) else port in numbers


def check_references(objects: list[dict], external_secrets: set[str], external_config_maps: set[str],
                     report: Report) -> None:
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    config_maps = set(by_kind.get("ConfigMap", {})) | external_config_maps
    secrets = set(by_kind.get("Secret", {})) | external_secrets

    for obj in workloads:
        where = name_of(obj)
        spec = pod_spec(obj)
        labels = pod_labels(obj)
        if obj["kind"] != "Job":
            selector = obj["spec"]["selector"]["matchLabels"]
            if not selects(selector, labels):
                report.fail(where, f"selector {selector} does not match its pod labels {labels}")
        names, numbers = container_ports(spec)
        for container in spec["containers"]:
            for probe_kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(probe_kind)
                if not probe:
                    continue
                for handler in ("grpc", "httpGet", "tcpSocket"):
                    if handler in probe and not port_exists(probe[handler]["port"], names, numbers):
                        report.fail(where, f"{probe_kind} uses port {probe[handler]['port']!r}, not a container port")
            defined: set[str] = set()
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] not in secrets:
                    report.fail(where, f"env {env['name']} reads Secret {ref['name']!r}, which is neither rendered nor external")
                # Kubernetes expands $(VAR) only for variables defined earlier
                # in the list; others stay as literal text.
                for used in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", env.get("value", "")):
                    if used not in defined:
                        report.fail(where, f"env {env['name']} uses $({used}), which is not defined before it")
                defined.add(env["name"])
        for volume in spec.get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                report.fail(where, f"volume {volume['name']} mounts missing ConfigMap {volume['configMap']['name']!r}")
            if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                report.fail(where, f"volume {volume['name']} mounts missing Secret {volume['secret']['secretName']!r}")

    for svc in by_kind.get("Service", {}).values():
        where = name_of(svc)
        selector = svc["spec"].get("selector", {})
        targets = [w for w in workloads if w["kind"] != "Job" and selects(selector, pod_labels(w))]
        if not targets:
            report.fail(where, f"selector {selector} matches no workload")
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if not any(port_exists(target, *container_ports(pod_spec(w))) for w in targets):
                report.fail(where, f"targetPort {target!r} exists in none of the selected pods")

    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        selector = pdb["spec"]["selector"]["matchLabels"]
        if not any(w["kind"] != "Job" and selects(selector, pod_labels(w)) for w in workloads):
            report.fail(name_of(pdb), f"selector {selector} matches no workload")

    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = hpa["spec"]["scaleTargetRef"]
        target = by_kind.get(ref["kind"], {}).get(ref["name"])
        if target is None:
            report.fail(name_of(hpa), f"targets missing {ref['kind']}/{ref['name']}")
        elif "replicas" in target["spec"]:
            report.fail(name_of(hpa), f"{ref['kind']}/{ref['name']} sets replicas, which the HPA would fight")

    for policy in by_kind.get("NetworkPolicy", {}).values():
        selector = policy["spec"]["podSelector"]["matchLabels"]
        targets = [w for w in workloads if w["kind"] != "Job" and selects(selector, pod_labels(w))]
        if not targets:
            report.fail(name_of(policy), f"podSelector {selector} matches no workload")
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if not all(port_exists(port["port"], *container_ports(pod_spec(w))) for w in targets):
                    report.fail(name_of(policy), f"port {port['port']!r} is not a port of every selected pod")

    for monitor in by_kind.get("ServiceMonitor", {}).values():
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in by_kind.get("Service", {}).values() if selects(selector, s["metadata"].get("labels", {}))]
        if not matched:
            report.fail(name_of(monitor), f"selector {selector} matches no Service")
        for endpoint in monitor["spec"]["endpoints"]:
            if not any(endpoint["port"] in {p.get("name") for p in s["spec"]["ports"]} for s in matched):
                report.fail(name_of(monitor), f"endpoint port {endpoint['port']!r} is not a port of the selected Service")


def check_metrics_ports(objects: list[dict], report: Report) -> None:
    """With telemetry.metrics on, every service container has a port named
    `metrics` on listen.metrics' port; with it off, none has."""
    configs = {}
    for cm in (o for o in objects if o["kind"] == "ConfigMap" and "tidings.toml" in o.get("data", {})):
        try:
            configs[cm["metadata"]["name"]] = tomllib.loads(cm["data"]["tidings.toml"])
        except tomllib.TOMLDecodeError:
            continue  # reported by check_config
    for obj in objects:
        if obj["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        spec = pod_spec(obj)
        mounted = [v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v]
        config = next((configs[name] for name in mounted if name in configs), None)
        if config is None:
            continue
        enabled = config.get("telemetry", {}).get("metrics", True)
        listen = config.get("listen", {}).get("metrics", "127.0.0.1:7406")
        port = int(listen.rsplit(":", 1)[1])
        for container in spec["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if enabled and ports.get("metrics") != port:
                report.fail(name_of(obj), f"telemetry.metrics is on (listen.metrics {listen}) but container "
                                          f"{container['name']} has no port 'metrics' = {port}")
            if not enabled and "metrics" in ports:
                report.fail(name_of(obj), f"container {container['name']} has a 'metrics' port, but telemetry.metrics is off")


def mounted_files(volume: dict, mount_path: str) -> set[str] | None:
    """Paths of the files a Secret or ConfigMap volume puts under mount_path:
    its items, or None when it mounts every key (unknown here)."""
    source = volume.get("secret") or volume.get("configMap")
    if source is None:
        return set()
    items = source.get("items")
    if not items:
        return None
    return {f"{mount_path}/{item['path']}" for item in items}


# Which binaries read the files named under a section of tidings.toml
# (None: every service). The migration reads none of them.
FILE_READERS = {
    "grpc.tls": None,
    "gateway.tls": {"tidings-gateway"},
    "gateway.auth.jwt": {"tidings-gateway"},
    "server_api": {"tidings-logic"},
}


def check_mounted_files(objects: list[dict], report: Report) -> None:
    """Every file tidings.toml names under /etc/tidings-* (certificates,
    keys, CA bundles, the JWKS, the keys file) is mounted into each service
    container that reads it: the binaries read them at start, and a missing
    one would fail the pod only once deployed."""
    for cm in (o for o in objects if o["kind"] == "ConfigMap" and "tidings.toml" in o.get("data", {})):
        try:
            config = tomllib.loads(cm["data"]["tidings.toml"])
        except tomllib.TOMLDecodeError:
            continue  # reported by check_config

        def files(prefix: str, value) -> list[tuple[str, str]]:
            if isinstance(value, dict):
                return [f for k, v in value.items() for f in files(f"{prefix}.{k}" if prefix else k, v)]
            if isinstance(value, str) and value.startswith("/etc/tidings-"):
                return [(prefix, value)]
            return []

        named = files("", config)
        for obj in (o for o in objects if o["kind"] in {"Deployment", "StatefulSet"}):
            spec = pod_spec(obj)
            if not any(v.get("configMap", {}).get("name") == cm["metadata"]["name"] for v in spec.get("volumes", [])):
                continue
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for container in spec["containers"]:
                binary = container["command"][0]
                mounts = {m["mountPath"]: mounted_files(volumes[m["name"]], m["mountPath"])
                          for m in container.get("volumeMounts", [])}
                for key, path in named:
                    section = next((s for s in FILE_READERS if key.startswith(s + ".")), None)
                    readers = FILE_READERS.get(section) if section else None
                    if section is None or (readers is not None and binary not in readers):
                        continue
                    held = [f for d, f in mounts.items() if path.startswith(d + "/")]
                    if not held:
                        report.fail(name_of(obj), f"{key} = {path}, but container {container['name']} "
                                                  f"mounts nothing there")
                    elif held[0] is not None and path not in held[0]:
                        report.fail(name_of(obj), f"{key} = {path}, but its volume in container "
                                                  f"{container['name']} holds only {sorted(held[0])}")


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


def check_config(objects: list[dict], example_path: str | None, report: Report) -> None:
    known = documented_keys(example_path) if example_path else None
    statefulsets = [o for o in objects if o["kind"] == "StatefulSet"]
    for cm in (o for o in objects if o["kind"] == "ConfigMap" and "tidings.toml" in o.get("data", {})):
        where = name_of(cm)
        try:
            config = tomllib.loads(cm["data"]["tidings.toml"])
        except tomllib.TOMLDecodeError as error:
            report.fail(where, f"tidings.toml is not valid TOML: {error}")
            continue
        if known is not None:
            def flat(prefix: str, value) -> list[str]:
                if not isinstance(value, dict):
                    return [prefix]
                return [key for k, v in value.items() for key in flat(f"{prefix}.{k}", v)]

            for section, value in config.items():
                for dotted in flat(section, value):
                    if dotted not in known:
                        report.fail(where, f"tidings.toml sets {dotted}, which tidings.example.toml does not document")
        peers = config.get("peers", {}).get("sequence", [])
        for sts in statefulsets:
            replicas = sts["spec"]["replicas"]
            service = sts["spec"]["serviceName"]
            namespace = sts["metadata"]["namespace"]
            expected = [f"{sts['metadata']['name']}-{i}.{service}.{namespace}.svc" for i in range(replicas)]
            hosts = [p.rsplit(":", 1)[0] for p in peers]
            # ".svc" may be followed by the cluster domain (clusterDomain).
            matches = len(hosts) == replicas and all(
                host == want or host.startswith(want + ".") for host, want in zip(hosts, expected)
            )
            if not matches:
                report.fail(where, f"peers.sequence {peers} does not list the {replicas} pods of {name_of(sts)}")
        print(f"  ok   {where}: tidings.toml parses; peers.sequence lists {len(peers)} instance(s)"
              if not any(f.startswith(where + ":") for f in report.failures) else f"  FAIL {where}: tidings.toml")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kube-version", action="append", required=True)
    parser.add_argument("--external-secret", action="append", default=[])
    parser.add_argument("--external-config-map", action="append", default=[])
    parser.add_argument("--example-config")
    parser.add_argument("manifests")
    args = parser.parse_args()

    objects = load(args.manifests)
    report = Report()
    print(f"schemas (Kubernetes {', '.join(args.kube_version)}, strict):")
    validate_schemas(objects, args.kube_version, report)
    print("cross-references and tidings.toml:")
    for check in (
        lambda: check_references(objects, set(args.external_secret), set(args.external_config_map), report),
        lambda: check_mounted_files(objects, report),
        lambda: check_config(objects, args.example_config, report),
        lambda: check_metrics_ports(objects, report),
    ):
        try:
            check()
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            # Objects malformed enough to break a check already failed their schema.
            report.fail("cross-check", f"could not complete on these objects: {error!r}")
    if report.failures:
        print(f"{len(report.failures)} problem(s) in {args.manifests}:")
        for failure in report.failures:
            print(f"  - {failure}")
        return 1
    print(f"{report.checked} objects valid, references consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
