"""Config loading: YAML + overrides, unknown keys, wrong types and missing values named."""

import pytest
from pydantic import Field

from vdgray.config import StageConfig, apply_overrides, deep_merge, load_config
from vdgray.errors import ConfigError
from vdgray.runtime import RayConfig


class Inner(StageConfig):
    rate: float = 0.5


class Example(StageConfig):
    output: str = Field(description="where")
    size: int = 4
    inner: Inner = Inner()
    ray: RayConfig = RayConfig()


def test_yaml_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("output: /tmp/x\nsize: 3\ninner:\n  rate: 0.1\n")
    cfg = load_config(Example, p, ["inner.rate=0.25", "ray.num_cpus=2"])
    assert (cfg.output, cfg.size, cfg.inner.rate, cfg.ray.num_cpus) == ("/tmp/x", 3, 0.25, 2)


def test_unknown_key_names_file_and_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("output: x\ninner:\n  rat: 0.1\n")
    with pytest.raises(ConfigError, match=rf"config file {p}: key inner.rat: unknown key"):
        load_config(Example, p)


def test_wrong_type_and_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"key size: .*integer.*\(got 'big'\)"):
        load_config(Example, None, ["output=x", "size=big"])
    with pytest.raises(ConfigError, match=r"key output: required value is missing"):
        load_config(Example, None, [])


def test_bad_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("output: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"config file {p} line \d+: invalid YAML"):
        load_config(Example, p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(Example, tmp_path / "none.yaml")
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(Example, p)


def test_override_syntax():
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])
    assert apply_overrides({}, ["a.b=[1, 2]", "c=hello world"]) == {"a": {"b": [1, 2]}, "c": "hello world"}


def test_deep_merge_keeps_nested_keys_the_extra_does_not_set():
    base = {"ray": {"num_cpus": 2, "address": "auto"}, "model": {"encoder": "e"}, "k": 1}
    out = deep_merge(base, {"ray": {"num_cpus": 4}, "model": "m", "new": {"a": 1}})
    assert out == {"ray": {"num_cpus": 4, "address": "auto"}, "model": "m", "k": 1,
                   "new": {"a": 1}}
    assert base["ray"]["num_cpus"] == 2
