"""The Helm chart, rendered by Helm's own engine (helm-python-sdk bundles Helm's Go SDK; no helm binary or
cluster) with its default values and with the other choices values.yaml offers, linted by Helm, and every
manifest validated against Kubernetes' schemas with kubernetes-validate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "runyard"
KUBERNETES = ["1.28", "1.30"]
# Custom resources have no schema in kubernetes-validate; their shape is checked by hand below.
CUSTOM = {"ScaledObject"}

CHOICES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external services": {
        "redis": {"bundled": False, "url": "redis://redis.example:6379/0"},
        "postgres": {"bundled": False, "url": "postgresql+psycopg://u:p@db.example/runyard"},
    },
    "rootless docker sidecar": {"worker": {"docker": {"mode": "dind"}}},
    "autoscaling on queue depth": {"autoscaling": {"enabled": True}},
    "no flower, no beat, existing secret": {
        "flower": {"enabled": False},
        "beat": {"enabled": False},
        "existingSecret": "mine",
    },
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = helm_python.Chart.load(CHART).render(values, name="ry", namespace="runyard", is_install=True)
    return [doc for path, text in rendered.items() if path.endswith(".yaml") for doc in yaml.safe_load_all(text) if doc]


def test_helm_lints_the_chart() -> None:
    report = helm_python.lint(CHART, strict=True)
    assert report["errors"] == [], report
    assert all(m["severity"] <= 1 for m in report["messages"]), report  # INFO only (an icon is "recommended")


@pytest.mark.parametrize("choice", list(CHOICES))
@pytest.mark.parametrize("version", KUBERNETES)
def test_every_manifest_is_valid_kubernetes(choice: str, version: str) -> None:
    docs = render(CHOICES[choice])
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "StatefulSet", "Service", "Job"} <= kinds
    for doc in docs:
        if doc["kind"] in CUSTOM:
            continue
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_choices_change_what_they_say() -> None:
    defaults = render({})
    worker = next(d for d in defaults if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("-worker"))
    pod = worker["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["supplementalGroups"] == [999]
    assert not any(c.get("securityContext", {}).get("privileged") for c in pod["containers"])  # no privileged pod
    assert pod["volumes"][0]["hostPath"]["path"] == "/var/run/docker.sock"
    # Persistent sandboxes on the node's sandbox engine, not its Docker engine.
    assert pod["volumes"][1]["hostPath"]["path"] == "/run/runyard-sandboxes/docker.sock"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["RUNYARD_SANDBOXES__DOCKER_URL"] == "unix:///run/runyard-sandboxes/docker.sock"

    external = render(CHOICES["external services"])
    assert not any(d["metadata"]["name"].endswith(("-redis", "-postgres")) for d in external)
    secret = next(d for d in external if d["kind"] == "Secret")
    assert secret["stringData"]["redis-url"] == "redis://redis.example:6379/0"

    dind = render(CHOICES["rootless docker sidecar"])
    pod = next(d for d in dind if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("-worker"))
    names = [c["name"] for c in pod["spec"]["template"]["spec"]["containers"]]
    assert names == ["worker", "dind"]
    env = {e["name"]: e.get("value") for e in pod["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RUNYARD_SANDBOXES__DOCKER_URL"] == env["RUNYARD_WORKER__DOCKER_URL"]
    assert env["RUNYARD_SANDBOXES__DISK_QUOTA"] == "false"

    scaled = render(CHOICES["autoscaling on queue depth"])
    scaler = next(d for d in scaled if d["kind"] == "ScaledObject")
    assert scaler["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert scaler["spec"]["triggers"][0]["metadata"]["listName"] == "runyard.runs"
    worker = next(d for d in scaled if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("-worker"))
    assert "replicas" not in worker["spec"]  # KEDA owns the replica count

    bare = render(CHOICES["no flower, no beat, existing secret"])
    assert not any(d["kind"] == "Secret" for d in bare)
    assert not any(d["metadata"]["name"].endswith(("-flower", "-beat")) for d in bare)


def test_every_value_is_documented() -> None:
    def keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
        out = []
        for key, value in tree.items():
            name = prefix + key
            nested = isinstance(value, dict) and value and key not in ("resources", "extraEnv") and "Context" not in key
            out.extend(keys(value, name + ".") if nested else [name])
        return out

    documented = (CHART.parents[1] / "docs" / "helm.md").read_text()
    missing = [k for k in keys(yaml.safe_load((CHART / "values.yaml").read_text())) if f"`{k}`" not in documented]
    assert not missing, missing
