"""The cluster provider's decisions, without a cluster: addresses, slots, GPU ids, what travels
between a node and the orchestrator, and the errors a user sees."""
from __future__ import annotations

import os
import socket

import pytest
from click.testing import CliRunner

from afr_box.orchestrator.cli import main
from afr_box.orchestrator.campaign.cluster import connect, parse_address
from afr_box.orchestrator.campaign.slots import cluster_slots
from afr_box.policies.schema import load_policy
from afr_box.sandbox.errors import ClusterError, RegistryError
from afr_box.sandbox.ray.node import RAY_ASSIGNED, assign_ray_gpus
from afr_box.sandbox.outputs import pack_outputs, unpack_outputs
from afr_box.sandbox.registry import check_reachable, parse_registry, pull
from afr_box.sandbox.spec import Mount, RunSpec, container_args


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.mark.parametrize("address,target,probe", [
    ("ray://10.0.0.1:10001", "ray://10.0.0.1:10001", ("10.0.0.1", 10001)),
    ("head.lab:6379", "head.lab:6379", ("head.lab", 6379)),
    ("auto", "auto", None),
])
def test_cluster_addresses_accepted(address, target, probe):
    assert parse_address(address) == (target, probe)


@pytest.mark.parametrize("address", ["ray://head", "http://head:6379", "head:99999", "", "ray://:10001"])
def test_malformed_cluster_address_says_what_is_expected(address):
    with pytest.raises(ClusterError, match="ray://HOST:PORT"):
        parse_address(address)


def test_unreachable_cluster_fails_fast_with_the_address():
    pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")
    port = _closed_port()
    with pytest.raises(ClusterError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        connect(f"127.0.0.1:{port}")


def test_registry_address_and_reachability():
    assert parse_registry("http://10.0.0.5:5000/") == "10.0.0.5:5000"
    with pytest.raises(RegistryError, match="HOST:PORT"):
        parse_registry("10.0.0.5:5000/afr")
    port = _closed_port()
    with pytest.raises(RegistryError, match=f"registry 127.0.0.1:{port} does not answer"):
        check_reachable(f"127.0.0.1:{port}", timeout_s=2)


def test_nodes_pull_by_digest_only():
    with pytest.raises(RegistryError, match="by digest only"):
        pull(None, "127.0.0.1:5000/afr/cand:heart-0123", "sha256:00")


def test_cluster_slots_default_to_every_afr_slot_and_are_capped():
    slots, notice = cluster_slots(None, 4, 0)
    assert len(slots) == 4 and notice == "" and all(s.cpuset is None and s.gpu_ids == () for s in slots)
    slots, notice = cluster_slots(6, 4, 0)
    assert len(slots) == 4 and "exceeds the cluster's 4 afr_slot" in notice
    slots, _ = cluster_slots(2, 4, 1)
    assert len(slots) == 2 and all(s.gpu_ids == (RAY_ASSIGNED,) for s in slots)


def test_ray_gpu_ids_become_the_device_request():
    spec = RunSpec(image="sha256:ab", command=["true"], mounts=[], limits=load_policy("scalar-hpo").container,
                   timeout_s=10, gpu_ids=[RAY_ASSIGNED])
    assert assign_ray_gpus(spec.gpu_ids, [3]) == ["3"]
    assert assign_ray_gpus([], [0, 1]) == []  # the scorer never gets a GPU
    with pytest.raises(ClusterError, match="assigned 0 GPU"):
        assign_ray_gpus(spec.gpu_ids, [])
    from dataclasses import replace

    args = container_args(replace(spec, gpu_ids=assign_ray_gpus(spec.gpu_ids, [1])))
    assert args["device_requests"][0]["DeviceIDs"] == ["1"]


def test_outputs_travel_as_plain_files(tmp_path):
    out = tmp_path / "out"
    (out / "predictions").mkdir(parents=True)
    (out / "predictions" / "site0.npy").write_bytes(b"\x00\x01")
    (out / "infer_stats.json").write_text("{}")
    packed, problem = pack_outputs(out, 1024)
    assert problem == "" and packed["dirs"] == ["predictions"]
    dest = tmp_path / "dest"
    dest.mkdir()
    assert unpack_outputs(packed, dest) == ""
    assert (dest / "predictions" / "site0.npy").read_bytes() == b"\x00\x01"
    assert pack_outputs(out, 2)[1].startswith("outputs exceed")


def test_a_link_in_out_never_travels(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.npz").symlink_to("/etc/passwd")
    packed, problem = pack_outputs(out, 1024)
    assert packed == {} and "symlink" in problem
    os.unlink(out / "model.npz")
    (tmp_path / "elsewhere").write_text("x")
    os.link(tmp_path / "elsewhere", out / "model.npz")
    assert "hardlink" in pack_outputs(out, 1024)[1]


def test_unpack_refuses_paths_outside_out(tmp_path):
    assert "not a path inside /out" in unpack_outputs({"dirs": [], "files": {"../x": b""}}, tmp_path)
    assert "not a path inside /out" in unpack_outputs({"dirs": ["/etc"], "files": {}}, tmp_path)
    assert not (tmp_path.parent / "x").exists()


def test_cli_cluster_options_are_validated(tmp_path):
    runner = CliRunner()
    done = runner.invoke(main, ["campaign", "heart", "--registry", "127.0.0.1:5000", "--runs-dir", str(tmp_path)])
    assert done.exit_code == 2 and "--registry is for --cluster" in done.output
    done = runner.invoke(main, ["campaign", "heart", "--cluster", "127.0.0.1:6379", "--runs-dir", str(tmp_path)])
    assert done.exit_code == 2 and "--cluster needs --registry" in done.output
    done = runner.invoke(main, ["campaign", "heart", "--cluster", "ray://head", "--registry", "h:5000",
                                "--runs-dir", str(tmp_path)])
    assert done.exit_code == 2 and "ray://HOST:PORT" in done.output
    assert list(tmp_path.iterdir()) == []  # nothing written
