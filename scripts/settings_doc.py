"""Print every Runyard setting as a Markdown table row: variable, default, type.

docs/configuration.md embeds this output; a unit test checks that it lists every setting.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from core.settings import Settings


def rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, f"{prefix}{name.upper()}__")
            continue
        default = "(generated)" if field.default_factory is not None else repr(field.default)
        if "password" in name or name == "api_key":
            default = "None"
        kind = getattr(annotation, "__name__", str(annotation)).replace("typing.", "")
        yield f"{prefix}{name.upper()}", default, kind


def main() -> None:
    print("| variable | default | type |")
    print("|---|---|---|")
    for var, default, kind in rows(Settings, "RUNYARD_"):
        print(f"| `{var}` | `{default}` | {kind} |")


if __name__ == "__main__":
    main()
