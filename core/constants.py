"""Every queue name, task name, Redis key prefix and container label in one place."""

from typing import Final

# Celery queues
QUEUE_RUNS: Final = "runyard.runs"
QUEUE_CALLBACKS: Final = "runyard.callbacks"
QUEUE_MAINTENANCE: Final = "runyard.maintenance"
QUEUE_HOST_PREFIX: Final = "runyard.host."  # + host name; every job that touches a sandbox living there

# Celery task names (producers send by name and never import the worker code)
TASK_EXECUTE_RUN: Final = "runyard.execute_run"
TASK_DELIVER_CALLBACK: Final = "runyard.deliver_callback"
TASK_SWEEP: Final = "runyard.sweep"
TASK_SANDBOX_JOB: Final = "runyard.sandbox_job"
TASK_SNAPSHOT_JOB: Final = "runyard.snapshot_job"

# Redis keys
KEY_PREFIX: Final = "runyard:"
CHANNEL_JOB_DONE: Final = KEY_PREFIX + "done:"  # + job id; a message when a job reaches a terminal state
KEY_WORKER_HEARTBEAT: Final = KEY_PREFIX + "worker:"  # + worker name; JSON, with a TTL
# + worker name; set while a worker starts (before its first heartbeat), so the sweep spares its containers
KEY_WORKER_STARTING: Final = KEY_PREFIX + "worker-starting:"
KEY_RATE: Final = KEY_PREFIX + "rate:"  # + tenant id + ":" + minute
KEY_JOB_OUTPUT: Final = KEY_PREFIX + "job-output:"  # + job id; a Redis stream of a running job's output
KEY_HOSTS_SEEN: Final = KEY_PREFIX + "hosts-seen"  # hash: host -> unix time of its last heartbeat
KEY_METRICS: Final = KEY_PREFIX + "metrics:"  # latency histograms and counters (core/metrics_store.py)
KEY_SWEEPS: Final = KEY_PREFIX + "sweeps"  # how many sweeps have finished: a sign of life, and a clock for tests
KEY_STREAM: Final = KEY_PREFIX + "stream:"  # + channel + ":in" / ":out"; a live terminal or tunnel
KEY_BUILD_LOG: Final = KEY_PREFIX + "build-log:"  # + snapshot id; a Redis stream of a build's output

# Docker labels on everything a worker creates
LABEL_MANAGED: Final = "org.runyard.managed"
LABEL_CLUSTER: Final = "org.runyard.cluster"
LABEL_WORKER: Final = "org.runyard.worker"
LABEL_KIND: Final = "org.runyard.kind"
LABEL_IMAGE: Final = "org.runyard.image"
LABEL_HOST: Final = "org.runyard.host"
LABEL_SNAPSHOT: Final = "org.runyard.snapshot"
# On an image: a shell command Runyard starts (as root, in a session of its own) with each sandbox of it.
LABEL_AUTOSTART: Final = "org.runyard.autostart"
AUTOSTART_SESSION: Final = "entrypoint"  # Daytona's name for the session its entrypoint runs in

# Where the in-container agent and the image's language catalog live
AGENT_PATH: Final = "/opt/runyard/agent.py"
CATALOG_PATH: Final = "/opt/runyard/languages.json"
SANDBOX_AGENT_PATH: Final = "/opt/runyard/sandbox_agent.pyz"
# The agent's own tmpfs in a sandbox: session scripts and pipes, never the sandbox user's.
SANDBOX_RUN_DIR: Final = "/run/runyard"


def host_queue(host: str) -> str:
    return QUEUE_HOST_PREFIX + host


# The Judge0 release whose API and language ids we mirror
JUDGE0_VERSION: Final = "1.13.1"
