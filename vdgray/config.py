"""Typed stage configs: YAML files plus `key.sub=value` overrides, validated by pydantic.

Every stage config subclasses `StageConfig` (unknown keys are rejected). `load_config` merges
the YAML file and the overrides and turns pydantic's errors into one line that names the
file and the dotted key, so a typo never reaches a stage as a silent default.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from vdgray.errors import ConfigError

C = TypeVar("C", bound=BaseModel)


def _uri(value: str) -> str:
    from vdgray import storage
    from vdgray.errors import StorageError

    try:
        return storage.absolute(value).rstrip("/")
    except StorageError as e:
        raise ValueError(str(e)) from None


# A storage URI field: validated early (scheme, bucket) and, for local paths, made absolute so
# that Ray workers, whose working directory differs from the driver's, resolve it the same way.
Uri = Annotated[str, AfterValidator(_uri)]


def _use_gpu(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("auto", "true", "false"):
        word = value.strip().lower()
        return "auto" if word == "auto" else word == "true"
    return value


# Every GPU switch of a stage: "auto", true or false (the strings "true"/"false" too, as a
# `--set key=true` or a quoted YAML value gives them), normalised to "auto" | bool.
# `vdgray.runtime.resolve_use_gpu` gives it its one meaning once Ray is up.
UseGpu = Annotated[Literal["auto"] | bool, BeforeValidator(_use_gpu)]


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (['a', 'b'], value), the value parsed as a YAML scalar or list."""
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key.sub=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Set each dotted override in a nested dict, creating intermediate mappings."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(
                    f"override {item!r}: {'.'.join(path[:-1])} is a value, not a section"
                )
            node = child
        node[path[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p}: not found")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {p}{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The config section a field holds (`X` or `X | None`, X a pydantic model), else None."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def field_description(cls: type[BaseModel] | None, loc: tuple) -> str | None:
    """The description of the field at `loc` (a pydantic error location) in `cls`."""
    field = None
    for part in loc:
        if cls is None or part not in cls.model_fields:
            return None
        field = cls.model_fields[part]
        cls = nested_model(field.annotation)
    return field.description if field is not None else None


def format_validation_error(err: ValidationError, source: str,
                            cls: type[BaseModel] | None = None) -> str:
    """One line per problem: `source: key a.b: message (got value)`; a missing value says
    what it is (the field's description, looked up in `cls`)."""
    lines = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "(root)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            what = field_description(cls, tuple(e["loc"]))
            msg = "required value is missing" + (f" ({what})" if what else "")
        got = "" if e["type"] in ("missing",) else f" (got {e.get('input')!r})"
        if e["type"] == "extra_forbidden":
            got = ""
        lines.append(f"{source}: key {key}: {msg}{got}")
    return "; ".join(lines)


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    base: dict | None = None,
    name: str = "overrides",
) -> C:
    """Build `cls` from defaults < `base` < YAML file < overrides; raise ConfigError on any
    problem, naming the file, else `name` (the command, when the CLI calls)."""
    data: dict = dict(base or {})
    source = name
    if path is not None:
        data = deep_merge(data, read_yaml(path))
        source = f"config file {path}"
        if overrides:
            source += " with overrides"
    data = apply_overrides(data, list(overrides))
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, cls)) from None


def deep_merge(base: dict, extra: dict) -> dict:
    """`extra` over `base`, merging nested dicts (a YAML's `ray.num_cpus` keeps the base's
    other `ray` keys; the pipeline's settings.train-cir.model.kind keeps the wired
    model.encoder)."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def resolved(cfg: BaseModel) -> dict:
    """The config as plain JSON data, for manifests."""
    return cfg.model_dump(mode="json")
