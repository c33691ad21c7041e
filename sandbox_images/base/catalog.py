"""Render an image's language catalog: fill each name with the version installed.

Run at image build time; the worker reads the result from the image and
publishes it, so /languages always names what really runs.
"""

import json
import subprocess
import sys


def main(template_path: str) -> None:
    with open(template_path, encoding="utf-8") as f:
        template = json.load(f)
    versions = {
        tool: subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
        for tool, argv in template.get("versions", {}).items()
    }
    languages = []
    for lang in template["languages"]:
        lang = dict(lang)
        lang["name"] = lang["name"].format(**versions)
        languages.append(lang)
    json.dump({"versions": versions, "languages": languages}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
