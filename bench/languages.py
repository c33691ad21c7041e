"""Every served language's timings, for docs/languages.md: hello world end to end through Runyard (warm pool,
one request at a time), and the compile step alone, with Runyard's own compile command, in a warm container
of the language's image.

usage: python -m bench.languages [--url URL] [--key KEY] [-n 15] [--only 62,60]

Needs a running Runyard (`make up`) and its Docker engine. Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shlex

import docker
import httpx

from bench import harness
from bench.harness import runyard_program
from bench.programs import raw_program, warm_container
from core.settings import get_settings
from tests.language_programs import hello_world
from workers.catalog import read_catalogs
from workers.runtime._docker import DockerEngine
from workers.runtime.docker_run import DockerRunRuntime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("RUNYARD_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("RUNYARD_KEY"))
    parser.add_argument("-n", type=int, default=15, help="timed requests per language, after 3 to warm up")
    parser.add_argument("--only", default="", help="comma-separated Judge0 ids")
    args = parser.parse_args()
    key = args.key or harness.admin_key()
    only = {int(i) for i in args.only.split(",") if i}

    engine = docker.from_env()
    # The languages as a worker reads them from its images.
    catalog = read_catalogs(DockerRunRuntime(DockerEngine()), get_settings().worker.images)
    rows = ["| id | name | image | warm hello world p50 ms | compile p50 ms |", "|---|---|---|---:|---:|"]
    with httpx.Client(base_url=args.url, headers={"X-Auth-Token": key}, timeout=120) as client:
        for lang in sorted(catalog, key=lambda lang: lang.id):
            source = hello_world(lang.id)
            if source is None or lang.source_file is None or (only and lang.id not in only):
                continue
            warm = runyard_program(client, lang.id, source, args.n, lang.name).pct(0.5)
            compile_p50 = ""
            if lang.compile_cmd:
                # Each run starts with an empty /tmp (Go's build cache is there): so does each timed compile.
                line = "rm -rf /tmp/.cache && " + " ".join(shlex.quote(w) for w in lang.compile_cmd if w != "{options}")
                with warm_container(engine, lang.image) as container:
                    timed = raw_program(container, lang.source_file, source, line, args.n, "compile")
                compile_p50 = f"{timed.pct(0.5):.0f}"
            family = lang.image.split("/")[-1].split(":")[0]
            rows.append(f"| {lang.id} | {lang.name} | {family} | {warm:.0f} | {compile_p50} |")
            print(rows[-1], flush=True)
    engine.close()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
