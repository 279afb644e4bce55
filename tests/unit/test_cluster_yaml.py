"""The Ray cluster-launcher configs in cluster/ are accepted by the Ray we ship with.

`ray up` validates a config against ray/autoscaler/ray-schema.json only after it has
started talking to the cloud, so a misspelt key costs a round trip. These tests validate
each file against the schema inside the installed ray package, run Ray's own
`prepare_config` + `validate_config` (what `ray up` does before launching anything; no cloud
calls), and check the layout the docs promise: a head that runs no tasks, CPU and GPU
worker types, and setup commands that install this repo's package.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from helpers.paths import ROOT
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = ROOT / "cluster"
RAY_SCHEMA = Path(os.path.dirname(ray.__file__)) / "autoscaler" / "ray-schema.json"


def ray_schema() -> dict:
    """The cluster-config JSON Schema that ships inside the installed ray package."""
    return json.loads(RAY_SCHEMA.read_text())


def schema_errors(config: dict) -> list[str]:
    """Every violation of ray-schema.json, as 'path: message'."""
    validator = jsonschema.Draft7Validator(ray_schema())
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(config)
    ]


def load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def prepared(config: dict) -> dict:
    """The config as `ray up` sees it: defaults filled in, then Ray's own checks."""
    full = prepare_config(copy.deepcopy(config))
    validate_config(full)
    return full


def installs_the_package(commands: list[str]) -> bool:
    """True when some command pip-installs the repo synced to ~/vdgray."""
    return any("pip install" in c and "~/vdgray" in c.split() for c in commands)


CONFIGS = sorted(p.name for p in CLUSTER.glob("*.yaml"))


def test_the_expected_configs_exist():
    assert CONFIGS == ["aws.yaml", "local.yaml"]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_matches_the_ray_schema_and_passes_ray_checks(name):
    config = load(name)
    errors = schema_errors(config)
    assert errors == [], f"cluster/{name}:\n" + "\n".join(errors)
    full = prepared(config)
    assert full["head_node_type"] in full["available_node_types"]


@pytest.mark.parametrize("name", CONFIGS)
def test_repo_is_synced_and_installed_on_every_node(name):
    config = load(name)
    assert config["file_mounts"]["~/vdgray"] == "."
    assert installs_the_package(config["setup_commands"])
    for node_type in config.get("available_node_types", {}).values():
        # a node-specific list replaces the global one, so it must install the package too
        if "worker_setup_commands" in node_type:
            assert installs_the_package(node_type["worker_setup_commands"])


def test_validator_rejects_typos_and_wrong_types():
    config = load("aws.yaml")
    typo = copy.deepcopy(config)
    typo["setup_comands"] = typo.pop("setup_commands")
    assert any("setup_comands" in e for e in schema_errors(typo))

    nested_typo = copy.deepcopy(config)
    nested_typo["available_node_types"]["ray.worker.gpu"]["max_worker"] = 4
    assert any("max_worker" in e for e in schema_errors(nested_typo))

    wrong_type = copy.deepcopy(config)
    wrong_type["available_node_types"]["ray.worker.gpu"]["resources"]["GPU"] = "1"
    assert any("resources.GPU" in e for e in schema_errors(wrong_type))

    too_few = copy.deepcopy(config)  # schema-valid, caught by Ray's own checks
    too_few["max_workers"] = 0
    too_few["available_node_types"]["ray.worker.gpu"]["min_workers"] = 1
    assert schema_errors(too_few) == []
    with pytest.raises(ValueError, match="max_workers"):
        prepared(too_few)


def test_aws_has_a_taskless_head_and_cpu_and_gpu_worker_types():
    config = load("aws.yaml")
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [t for t in workers.values() if t["resources"].get("GPU", 0) == 0]
    assert gpu and cpu
    for node_type in workers.values():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"]
        assert node_type["node_config"]["InstanceType"]
    assert any(t["node_config"]["InstanceType"].startswith(("g", "p")) for t in gpu)
    assert config["max_workers"] >= max(t["max_workers"] for t in workers.values())
    assert config["max_workers"] <= sum(t["max_workers"] for t in workers.values())


def test_aws_docker_image_matches_the_installed_ray():
    image = load("aws.yaml")["docker"]["image"]
    assert image.startswith(f"rayproject/ray:{ray.__version__}-py311")
    for command in load("aws.yaml")["setup_commands"]:
        if "ray[" in command:
            assert f"=={ray.__version__}" in command


def test_local_uses_placeholder_loopback_ips_and_all_workers():
    config = load("local.yaml")
    provider = config["provider"]
    assert provider["type"] == "local"
    ips = [provider["head_ip"], *provider["worker_ips"]]
    assert all(ip.startswith("127.") for ip in ips) and len(set(ips)) == len(ips)
    full = prepared(config)
    (node_type,) = full["available_node_types"].values()
    assert node_type["min_workers"] == node_type["max_workers"] == len(provider["worker_ips"])
