"""cluster/: the launcher YAML against Ray's ray-schema.json, the RayJob against KubeRay's v1 CRD schema,
and what they run (no `$` in the entrypoint, nothing hidden behind `|| true`, data where it is decoded)."""

import copy
import gzip
import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")
ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
CRD_SCHEMA = Path(__file__).parent / "data" / "kuberay-v1.7.0-rayjob-v1-openapi.json.gz"


def ray_schema():
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


def strict(schema):
    """The CRD schema with unknown fields refused, as `kubectl apply --validate=strict` does.

    Kubernetes prunes unknown fields silently; a typo would be lost without an error. Every
    object schema that lists its properties (and allows no others) gets additionalProperties: false.
    """
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
                    and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(schema)
    return schema


def rayjob_schema():
    return strict(json.loads(gzip.decompress(CRD_SCHEMA.read_bytes())))


def load(name):
    return yaml.safe_load((CLUSTER / name).read_text())


def test_launcher_yaml_is_valid_for_ray_schema():
    jsonschema.validate(load("ray-cluster.yaml"), ray_schema())


def test_launcher_yaml_schema_check_can_fail():
    bad = load("ray-cluster.yaml")
    bad["max_worker"] = 8           # a typo
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, ray_schema())


def test_rayjob_is_valid_for_kuberay_v1_crd():
    job = load("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    jsonschema.validate(job, rayjob_schema())


def test_rayjob_schema_check_can_fail():
    job = load("rayjob.yaml")
    job["spec"]["entryPoint"] = job["spec"].pop("entrypoint")           # wrong case: an unknown field
    with pytest.raises(jsonschema.ValidationError, match="entryPoint"):
        jsonschema.validate(job, rayjob_schema())
    job = load("rayjob.yaml")
    job["spec"]["rayClusterSpec"]["authOptions"]["mode"] = "none"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(job, rayjob_schema())


def test_rayjob_runs_what_it_says():
    spec = load("rayjob.yaml")["spec"]
    entry = spec["entrypoint"]
    assert "$" not in entry and "`" not in entry      # the submitter's bash would expand it there
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert env["RAYSHA_STORAGE"].startswith("s3://")  # read by `raysha run` when --storage is not given
    assert spec["rayClusterSpec"]["authOptions"]["mode"] == "token"
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    workers = [g["template"]["spec"]["containers"][0] for g in spec["rayClusterSpec"]["workerGroupSpecs"]]
    # raysha and the data come with the image, the same on the head (which decodes) and the workers
    assert "raysha" in head["image"] and all(w["image"] == head["image"] for w in workers)
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    assert "load_fashion_mnist" in dockerfile and "|| true" not in dockerfile
    assert f"ray:{spec['rayClusterSpec']['rayVersion']}-" in dockerfile


def test_launcher_installs_raysha_without_hiding_failure():
    cfg = load("ray-cluster.yaml")
    commands = cfg["setup_commands"] + cfg["head_setup_commands"]
    assert not any("|| true" in c for c in commands)
    assert any("raysha" in c and "pip install" in c for c in cfg["setup_commands"])
    assert "." in cfg["file_mounts"].values()
    assert any("load_fashion_mnist" in c for c in cfg["head_setup_commands"])
