"""Every served language's timings, for docs/languages.md: hello world end to end through Runyard (warm pool,
one request at a time), and the compile step alone, with Runyard's own compile command, in a warm container
of the language's image.

usage: python -m bench.languages [--url URL] [--key KEY] [-n 15] [--only 62,60]

Needs a running Runyard (`make up`) and its Docker engine. Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from typing import Any

import docker
import httpx

from bench import harness
from bench.programs import raw_program, runyard_program, warm_container
from core.settings import get_settings
from tests.language_programs import hello_world

CATALOG = "/opt/runyard/languages.json"


def image_catalogs(engine: docker.DockerClient, images: list[str]) -> dict[int, tuple[str, dict[str, Any]]]:
    """Each language's entry in its image's languages.json, with the image."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for image in images:
        data = json.loads(engine.containers.run(image, ["cat", CATALOG], entrypoint=[], remove=True))
        for lang in data["languages"]:
            found[lang["id"]] = (image, lang)
    return found


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
    catalog = image_catalogs(engine, get_settings().worker.images)
    rows = ["| id | name | image | warm hello world p50 ms | compile p50 ms |", "|---|---|---|---:|---:|"]
    with httpx.Client(base_url=args.url, headers={"X-Auth-Token": key}, timeout=120) as client:
        for lang_id, (image, lang) in sorted(catalog.items()):
            source = hello_world(lang_id)
            if source is None or (only and lang_id not in only):
                continue
            warm = runyard_program(client, lang_id, source, args.n, lang["name"]).pct(0.5)
            compile_p50 = ""
            if lang.get("compile"):
                # Each run starts with an empty /tmp (Go's build cache is there): so does each timed compile.
                line = "rm -rf /tmp/.cache && " + " ".join(shlex.quote(w) for w in lang["compile"] if w != "{options}")
                with warm_container(engine, image) as container:
                    timed = raw_program(container, lang["source_file"], source, line, args.n, "compile")
                compile_p50 = f"{timed.pct(0.5):.0f}"
            family = image.split("/")[-1].split(":")[0]
            rows.append(f"| {lang_id} | {lang['name']} | {family} | {warm:.0f} | {compile_p50} |")
            print(rows[-1], flush=True)
    engine.close()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
