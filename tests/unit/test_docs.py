"""Documentation that cannot silently rot."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from scripts.settings_doc import rows

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_doc_lists_every_setting() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [var for var, _, _ in rows(Settings, "RUNYARD_") if f"`{var}`" not in doc]
    assert not missing, f"run `python scripts/settings_doc.py` and update docs/configuration.md: {missing}"


def test_readme_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make up" in readme and "make test" in readme


def test_grafana_dashboard_uses_only_metrics_runyard_exports() -> None:
    import json
    import re

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "docs" / "grafana-dashboard.json").read_text())
    exported = set(re.findall(r"runyard_[a-z_]+", (root / "api" / "metrics.py").read_text()))
    exported |= {f"runyard_job_{n}_seconds" for n in ("queue_wait", "execution")} | {"runyard_callbacks"}
    from api import metrics

    exported |= {f"runyard_pool_{k}" for k in metrics.POOL_GAUGES}
    exported |= {f"runyard_pool_{k}_total" for k in metrics.POOL_COUNTERS}
    exported |= {f"runyard_sandbox_{name}" for name, _ in metrics.SANDBOX_HOST_GAUGES.values()}
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"runyard_[a-z_]+", t["expr"])}
    suffixes = ("_bucket", "_count", "_sum")
    unknown = {
        m
        for m in used
        if m not in exported
        and m.removesuffix("_total") not in exported
        and not any(m.endswith(s) and m.removesuffix(s) in exported for s in suffixes)
    }
    assert not unknown, unknown
    assert len(dashboard["panels"]) >= 8
