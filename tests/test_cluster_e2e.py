"""Campaigns on a real multi-node Ray cluster (on one machine), images by digest from a real
registry on loopback, every candidate the same hardened `docker run` on the node Ray picks.

One cluster (a head without slots, three workers with afr_slot 1, 1 and 2) and one registry
serve the whole module. On one machine all nodes share the filesystem and the Docker engine,
so a node "without the data" is a real Ray node started in its own mount namespace with a
tmpfs over the data folder: it truly cannot see it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")

from afr_box.orchestrator.campaign import cluster as ray_cluster  # noqa: E402
from afr_box.orchestrator.campaign.loop import CampaignOptions, run_campaign  # noqa: E402
from afr_box.orchestrator.cli import main  # noqa: E402
from afr_box.orchestrator.findings.replay import replay  # noqa: E402
from afr_box.orchestrator.records.runlog import RunLog  # noqa: E402
from afr_box.policies.schema import load_policy  # noqa: E402
from afr_box.profiles.schema import profile_path  # noqa: E402
from afr_box.sandbox.errors import ClusterError  # noqa: E402
from afr_box.sandbox.images import find_base  # noqa: E402
from afr_box.sandbox.ray.node import RAY_ASSIGNED, node_spec  # noqa: E402
from afr_box.sandbox.providers import open_sandbox  # noqa: E402
from afr_box.sandbox.ray.executor import SLOT, task_options  # noqa: E402
from afr_box.sandbox.registry import LoopbackRegistry  # noqa: E402
from afr_box.sandbox.spec import RunSpec, container_args  # noqa: E402
from isolation import own_snapshots  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

WORKER_SLOTS = (1, 1, 2)
STORE = 100 * 1024 ** 2  # object store per node: small, this machine has 2 cores and other users


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    import docker

    with LoopbackRegistry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg
    client = docker.from_env()  # drop the tags this registry's pushes added (the images stay)
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(reg.address + "/"):
                client.images.remove(tag)


@pytest.fixture(scope="module")
def ray_nodes():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=1, resources={SLOT: 0}, object_store_memory=STORE, include_dashboard=False))
    try:
        for slots in WORKER_SLOTS:
            cluster.add_node(num_cpus=1, resources={SLOT: slots}, object_store_memory=STORE)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="ERROR")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def short_heart(tmp_path_factory) -> Path:
    """The heart profile with 1 round instead of 15 and no noise-floor runs (tests of their own:
    test_campaign_e2e, test_parallel_e2e): the same placement paths in a fraction of the time."""
    profile = yaml.safe_load(profile_path("heart").read_text())
    profile["budget"]["rounds"] = 1
    profile["noise_seeds"] = 1
    path = tmp_path_factory.mktemp("profile") / "heart-short.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


class InspectWatcher:
    """`docker inspect` of the campaign's containers while they run, from outside Ray."""

    def __init__(self, client, campaign: str):
        self.client, self.campaign, self.seen = client, campaign, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            for c in self.client.containers.list(filters={"label": f"afr.campaign={self.campaign}"}):
                try:
                    self.seen.setdefault(c.name, self.client.api.inspect_container(c.id))
                except Exception:
                    pass  # finished between list and inspect
            time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def campaigns(sandbox, heart_ready, ray_nodes, registry, short_heart, tmp_path_factory):
    """The same short heart campaign (same seeds) on the local provider and on the cluster."""
    runs = tmp_path_factory.mktemp("runs")
    # Surfaces of this run's own (tests/isolation.py): this module deletes one of their images, and
    # candidate images are content-addressed, so no other test (or test run) may share them.
    own = own_snapshots("heart", tmp_path_factory.mktemp("snapshots"), [{"lr": 0.02}, {"lr": 0.005}])
    common = dict(task="heart", proposer="snapshots", snapshots=own, max_candidates=3, profile=short_heart,
                  runs_dir=runs, data_root=heart_ready)
    local = run_campaign(CampaignOptions(name="local", parallel=1, **common))
    name = f"ray-{uuid.uuid4().hex[:8]}"
    with InspectWatcher(sandbox.images.client, name) as watcher:
        on_cluster = run_campaign(CampaignOptions(name=name, cluster=ray_nodes.address, registry=registry.address,
                                                  **common))
    return local, on_cluster, watcher.seen


def _slots_by_node() -> dict[str, int]:
    return {n["NodeID"]: int(n["Resources"].get(SLOT, 0)) for n in ray.nodes() if n["Alive"]}


def test_cluster_scores_equal_the_local_provider(campaigns):
    local, on_cluster, _ = campaigns
    local_rows = {r.candidate: r for r in RunLog(local / "results.tsv").rows()}
    rows = RunLog(on_cluster / "results.tsv").rows()
    assert rows[0].candidate == "0000" and sorted(r.candidate for r in rows) == sorted(local_rows)
    for row in rows:
        assert row.status in ("keep", "discard"), (row.status, row.reason)
        assert row.score == local_rows[row.candidate].score, row.candidate
        assert row.surface_hash == local_rows[row.candidate].surface_hash


def test_every_phase_pulled_the_gated_image_by_digest(campaigns, registry, sandbox):
    _, on_cluster, _ = campaigns
    base = find_base(sandbox.images)
    for row in RunLog(on_cluster / "results.tsv").rows():
        folder = on_cluster / row.artifacts
        image = json.loads((folder / "image.json").read_text())
        assert image["repo_digest"].startswith(f"{registry.address}/afr/cand@sha256:")
        placement = json.loads((folder / "record.json").read_text())["placement"]
        assert set(placement) == {"train", "infer", "score"}
        assert placement["train"]["image_ref"] == placement["infer"]["image_ref"] == image["repo_digest"]
        assert placement["train"]["image_id"] == row.image_id
        assert placement["score"]["image_ref"].startswith(f"{registry.address}/afr/base@sha256:")
        assert placement["score"]["image_id"] == base.id  # the scorer runs the base image, never the candidate
        resources = json.loads((folder / "resources.json").read_text())
        assert resources["train"]["placement"]["node_id"] == placement["train"]["node_id"]


def test_no_node_ran_more_than_its_slots(campaigns):
    _, on_cluster, _ = campaigns
    slots = _slots_by_node()
    intervals = defaultdict(list)
    for row in RunLog(on_cluster / "results.tsv").rows():
        for run in json.loads((on_cluster / row.artifacts / "record.json").read_text())["placement"].values():
            intervals[run["node_id"]].append((run["started_at"], run["ended_at"]))
    assert intervals and all(slots.get(node, 0) > 0 for node in intervals)  # never the slot-less head
    for node, spans in intervals.items():
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
        running = peak = 0
        for _, step in events:
            running += step
            peak = max(peak, running)
        assert peak <= slots[node], (node, peak, slots[node])


def test_hardening_is_visible_in_docker_inspect(campaigns, registry):
    _, _, seen = campaigns
    assert seen, "no container of the cluster campaign was seen running"
    for name, attrs in seen.items():
        host = attrs["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"] and host["NetworkMode"] == "none", name
        assert "no-new-privileges" in host["SecurityOpt"] and host["PidsLimit"] > 0 and host["Memory"] > 0, name
        assert host["IpcMode"] == "private" and not attrs["Config"]["User"].startswith("0"), name
        assert attrs["Config"]["Image"].startswith(f"{registry.address}/afr/") and "@sha256:" in attrs["Config"]["Image"]


def test_cluster_campaign_leaves_nothing_and_replays_from_the_digest(campaigns, sandbox, heart_ready):
    _, on_cluster, _ = campaigns
    name = on_cluster.name
    assert sandbox.images.client.containers.list(all=True, filters={"label": f"afr.campaign={name}"}) == []
    row = next(r for r in RunLog(on_cluster / "results.tsv").rows() if r.candidate == "0001")
    sandbox.images.client.images.remove(row.image_id, force=True)  # as on a machine that never had it
    result = replay(on_cluster, "0001", heart_ready)  # pulls the logged digest, checks the id, reruns
    assert result.match and result.image_reused and result.image_id == row.image_id, result
    assert json.loads((on_cluster / "campaign.json").read_text())["base_repo_digest"].split("@")[1].startswith("sha256:")


def test_killed_task_leaves_no_container_after_cleanup(sandbox, ray_nodes, registry):
    """Ray does not own containers: a force-killed task leaves its container running; the
    per-node cleanup (what `afr-box clean --cluster` and the campaign's end run) removes it."""
    name = f"ray-kill-{uuid.uuid4().hex[:8]}"
    cluster = open_sandbox("ray", registry=registry.address, shared_roots=[], local=sandbox.images)
    base = find_base(sandbox.images)
    spec = RunSpec(image=base.id, command=["python", "-c", "import time; time.sleep(600)"], mounts=[],
                   limits=load_policy("scalar-hpo").container, timeout_s=600, name=f"afr-{name}-0000-train",
                   labels={"afr.campaign": name, "afr.candidate": "0000", "afr.phase": "train"})
    task = cluster.executor.submit(spec, cluster.images.publish(base))
    label = {"label": f"afr.campaign={name}"}
    deadline = time.monotonic() + 300
    while not sandbox.images.client.containers.list(filters=label):
        assert time.monotonic() < deadline, "the candidate's container never started"
        time.sleep(0.5)
    ray.cancel(task, force=True)
    with pytest.raises(ray.exceptions.RayError):
        ray.get(task, timeout=120)
    assert sandbox.images.client.containers.list(all=True, filters=label), "the killed task's container should remain"
    done = CliRunner().invoke(main, ["clean", "--cluster", ray_nodes.address, "--campaign", name])
    assert done.exit_code == 0, done.output
    assert sum(int(line.split("removed ")[1].split()[0]) for line in done.output.splitlines()) >= 1
    assert sandbox.images.client.containers.list(all=True, filters=label) == []


def _start_node_without(data_root: Path, address: str) -> subprocess.Popen:
    """A Ray worker node in its own mount namespace, where a tmpfs hides `data_root`."""
    ray_bin = Path(sys.executable).with_name("ray")
    cmd = (f"mount -t tmpfs -o size=1m afr-no-data {data_root} && exec {ray_bin} start --address={address} "
           f"--num-cpus=1 --resources='{{\"{SLOT}\": 1}}' --object-store-memory={STORE} --block")
    return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", cmd],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_preflight_names_the_node_without_the_data(sandbox, heart_ready, ray_nodes, registry, short_heart, tmp_path):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding the data from one node needs root and unshare")
    before = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    node = _start_node_without(heart_ready, ray_nodes.address)
    try:
        deadline = time.monotonic() + 120
        while not (new := {n["NodeID"] for n in ray.nodes() if n["Alive"]} - before):
            assert node.poll() is None and time.monotonic() < deadline, "the extra node did not join"
            time.sleep(0.5)
        (missing,) = new
        with pytest.raises(ClusterError) as refused:
            run_campaign(CampaignOptions(task="heart", proposer="hpo", max_candidates=2, name="never",
                                         profile=short_heart, runs_dir=tmp_path, data_root=heart_ready,
                                         cluster=ray_nodes.address, registry=registry.address))
        message = str(refused.value)
        assert "preflight failed on 1 of 4 node(s)" in message, message
        assert f"node {missing[:12]}" in message and "does not exist on this node" in message, message
        assert str(heart_ready / "heart") in message
        assert not (tmp_path / "never").exists()  # refused before anything was written
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        node.wait(timeout=60)
        deadline = time.monotonic() + 60
        while any(n["Alive"] for n in ray.nodes() if n["NodeID"] in new):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)


def test_ray_gpu_ids_become_each_containers_device_request(ray_nodes):
    """Two runs holding a (fake) GPU at the same time get different device ids: each task is submitted
    with the provider's own task options and translates its spec with the provider's node code
    (node_spec reads ray.get_gpu_ids() inside the task); only the docker run itself, which needs a
    real GPU, is left out."""
    gpu_node = ray_nodes.add_node(num_cpus=0, num_gpus=2, resources={SLOT: 2}, object_store_memory=STORE)
    try:
        ray_nodes.wait_for_nodes()

        @ray.remote(num_cpus=0)
        class Barrier:
            def __init__(self):
                self.count = 0

            def arrive(self):
                self.count += 1

            def count_now(self):
                return self.count

        barrier = Barrier.remote()

        @ray.remote
        def translate(spec, barrier):
            ray.get(barrier.arrive.remote())
            while ray.get(barrier.count_now.remote()) < 2:  # both hold their GPU now
                time.sleep(0.05)
            run = node_spec(spec, "registry/afr/cand@sha256:00", spec.mounts)
            return run.gpu_ids, container_args(run)["device_requests"][0]["DeviceIDs"]

        spec = RunSpec(image="sha256:00", command=["true"], mounts=[], limits=load_policy("scalar-hpo").container,
                       timeout_s=10, gpu_ids=[RAY_ASSIGNED])
        task = translate.options(**task_options(spec))
        (ids_a, dev_a), (ids_b, dev_b) = ray.get([task.remote(spec, barrier), task.remote(spec, barrier)],
                                                 timeout=120)
        assert ids_a == dev_a and ids_b == dev_b
        assert sorted(ids_a + ids_b) == ["0", "1"]  # never the same GPU
    finally:
        ray_nodes.remove_node(gpu_node)
