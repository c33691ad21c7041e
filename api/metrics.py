"""Prometheus metrics at /metrics: worker pools from their heartbeats, and queue depth from Postgres.

Built per scrape from the sources of truth, so every API replica reports the
same numbers and nothing is lost when a process restarts. No key is needed:
the figures say nothing about any tenant's work.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Metric, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from api.deps import StateDep
from core import metrics_store
from core.services.system import live_workers, work_in_flight

router = APIRouter(tags=["health"])

POOL_GAUGES = {
    "target": "Sandboxes a pool keeps",
    "idle": "Warm sandboxes waiting for a run",
    "busy": "Sandboxes running a job",
    "resetting": "Sandboxes being reset after a run",
    "starting": "Sandboxes being started",
}
POOL_COUNTERS = {
    "created": "Sandboxes started",
    "destroyed": "Sandboxes removed",
    "reset_failures": "Resets that did not come back clean (the sandbox was destroyed)",
    "hits": "Runs that found a warm sandbox",
    "misses": "Runs that had to wait for a sandbox",
}

# Persistent-sandbox figures from each host's heartbeat: key -> (metric name, help)
SANDBOX_HOST_GAUGES = {
    "pool_target": ("pool_target", "Ready sandboxes a host keeps"),
    "pool_idle": ("pool_idle", "Ready sandboxes waiting for a create"),
    "pool_hits": ("pool_hits_total", "Creates answered from the pool"),
    "pool_misses": ("pool_misses_total", "Creates that had to start a container"),
    "attached": ("attached", "Sandboxes the host's worker is connected to"),
}


class _Recorded:
    """What workers recorded in Redis, as Prometheus histograms and counters."""

    def __init__(self, histograms: list[metrics_store.Histogram], callbacks: dict[str, float]) -> None:
        self.histograms, self.callbacks = histograms, callbacks

    def collect(self) -> Iterator[Metric]:
        for name, text in metrics_store.HISTOGRAMS.items():
            family = HistogramMetricFamily(f"runyard_job_{name}_seconds", text, labels=["kind"])
            for h in self.histograms:
                if h.name == name:
                    family.add_metric([h.kind], h.cumulative, h.total)
            yield family
        counter = CounterMetricFamily("runyard_callbacks", metrics_store.COUNTERS["callbacks"], labels=["result"])
        for result in ("delivered", "retry", "failed"):
            counter.add_metric([result], self.callbacks.get(result, 0.0))
        yield counter


@router.get("/metrics", include_in_schema=False)
async def metrics(state: StateDep) -> Response:
    registry = CollectorRegistry()
    workers = await live_workers(state.redis)
    Gauge("runyard_workers_alive", "Workers with a fresh heartbeat", registry=registry).set(len(workers))
    labels = ["worker", "pool"]
    gauges = {k: Gauge(f"runyard_pool_{k}", text, labels, registry=registry) for k, text in POOL_GAUGES.items()}
    # Heartbeats carry totals since the worker started: exposed as counters would be, with _total names.
    totals = {k: Gauge(f"runyard_pool_{k}_total", text, labels, registry=registry) for k, text in POOL_COUNTERS.items()}
    for worker in workers:
        for pool, stats in worker.pools.items():
            for key, gauge in {**gauges, **totals}.items():
                gauge.labels(worker=worker.name, pool=pool).set(float(getattr(stats, key)))
    host_gauges = {
        key: Gauge(f"runyard_sandbox_{name}", text, ["host"], registry=registry)
        for key, (name, text) in SANDBOX_HOST_GAUGES.items()
    }
    for worker in workers:
        for key, gauge in host_gauges.items():
            gauge.labels(host=worker.host).set(float(getattr(worker.sandboxes, key)))
    live = Gauge(
        "runyard_sandboxes", "Sandboxes by host and state (deleted ones left out)", ["host", "state"], registry=registry
    )
    containers = Gauge(
        "runyard_containers",
        "Containers a worker holds: warm and busy run sandboxes, and persistent ones it serves",
        ["worker"],
        registry=registry,
    )
    for worker in workers:
        held = sum(pool.held for pool in worker.pools.values())
        containers.labels(worker=worker.name).set(held + worker.sandboxes.pool_idle + worker.sandboxes.attached)
    registry.register(
        _Recorded(await metrics_store.histograms(state.redis), await metrics_store.counters(state.redis, "callbacks"))
    )
    depth = Gauge("runyard_jobs", "Jobs by queue and state (queued, running)", ["queue", "state"], registry=registry)
    async with state.sessions() as session:
        counts = await work_in_flight(session)
    for queue, job_state, count in counts.jobs:
        depth.labels(queue=queue, state=job_state).set(count)
    for host, sandbox_state, count in counts.sandboxes:
        live.labels(host=host, state=sandbox_state).set(count)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
