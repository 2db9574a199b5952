"""A small JSON Schema checker for the subset docs/sipauth-report.schema.json uses.

jsonschema is not a dependency; this covers type, const, enum, pattern, required, properties,
items, additionalProperties, $ref (local) and allOf. It is stricter than JSON Schema in one
way: an object whose schema lists ``properties`` may not carry a key the schema does not
document (so the schema file cannot fall behind the output).
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _documented(schema: dict[str, Any], root: dict[str, Any]) -> set[str] | None:
    schema = _resolve(schema, root)
    if "allOf" in schema:
        names: set[str] = set()
        for part in schema["allOf"]:
            documented = _documented(part, root)
            if documented is None:
                return None
            names |= documented
        return names
    if "properties" in schema and "additionalProperties" not in schema:
        return set(schema["properties"])
    return None


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def validate(
    value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$", strict: bool = True
) -> list[str]:
    """Every violation, as ``path: problem`` lines (empty when ``value`` conforms)."""
    schema = _resolve(schema, root)
    errors: list[str] = []
    if "allOf" in schema:
        # Each part documents some keys; undocumented keys are judged on their union below.
        for part in schema["allOf"]:
            errors += validate(value, part, root, path, strict=False)
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']!r}")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, n) for n in names):
            return [*errors, f"{path}: {type(value).__name__} is not {names}"]
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += validate(item, properties[key], root, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(item, schema["additionalProperties"], root, f"{path}.{key}")
        documented = _documented(schema, root) if strict else None
        if documented is not None:
            errors += [f"{path}: undocumented key {k!r}" for k in value if k not in documented]
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], root, f"{path}[{index}]")
    return errors
