"""The Ray engine gives the local engine's parts: on ``ray.init(num_cpus=2)``, with a worker process killed
mid-job, and on a real two-node cluster on loopback (two ``ray start`` processes started and stopped here).

Kept to one module: one local Ray instance for the first tests, then one two-node cluster (~1 minute in all).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TINY_CAPTIONS
from tests.jobs.conftest import LABELS, make_images
from vocabfree.jobs import ClassifyImagesTask, EmbedImagesTask, EngineConfig, JobError, run_embedding, run_image_job

ray = pytest.importorskip("ray")

SHARD, BATCH = 4, 3  # 13 inputs: 4 shards, batches that do not divide shards evenly


@pytest.fixture(autouse=True)
def time_limit():
    """Fail (instead of hanging CI) when a test here runs past two minutes."""

    def expire(*_):
        raise TimeoutError("ray test ran past its 120 s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def parts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*.parquet"))}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("ray-images") / "images")


@pytest.fixture(scope="module")
def local_ray():
    # A new instance, never a running one, on loopback only.
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


def run_both(task, images: Path, tmp: Path, address: str | None = None) -> tuple[Path, Path]:
    local, remote = tmp / "local", tmp / "ray"
    run_image_job(task, [images], local, shard_size=SHARD, engine=EngineConfig("local", batch_size=BATCH))
    report = run_image_job(
        task,
        [images],
        remote,
        shard_size=SHARD,
        engine=EngineConfig("ray", batch_size=BATCH, concurrency=2, address=address),
    )
    assert (report.shards, report.rows, report.errors) == (4, 13, 2)
    return local, remote


def test_classify_on_ray_writes_the_local_parts(local_ray, images, tmp_path):
    local, remote = run_both(ClassifyImagesTask("test-tiny", labels=LABELS, top_k=2), images, tmp_path)
    assert parts(remote) == parts(local) and len(parts(local)) == 4
    assert (remote / "_job.json").read_text() == (local / "_job.json").read_text()


def test_db_embedding_on_ray_writes_the_local_shards(local_ray, tmp_path):
    from vocabfree.database.shards import split_shards

    captions = TINY_CAPTIONS * 3
    run_embedding(split_shards(captions, 7), "test-tiny", tmp_path / "local", engine="local")
    report = run_embedding(split_shards(captions, 7), "test-tiny", tmp_path / "ray", engine="ray", concurrency=2)
    assert (report.shards, report.captions) == (5, 30)
    files = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "ray").iterdir()) and len(files) == 15
    for name in files:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name


@dataclass
class KilledOnce(EmbedImagesTask):
    """Embeds like its parent, but the first call anywhere SIGKILLs its own worker process (the marker file
    makes it once per test): Ray must restart the actor and retry the batch."""

    marker: str = ""

    def __call__(self, items):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(items)


def test_a_worker_killed_mid_job_is_restarted_and_the_job_completes(local_ray, images, tmp_path):
    marker = tmp_path / "killed-pid"
    local = tmp_path / "local"
    run_image_job(
        EmbedImagesTask("test-tiny"), [images], local, shard_size=SHARD, engine=EngineConfig("local", batch_size=BATCH)
    )
    remote = tmp_path / "ray"
    run_image_job(
        KilledOnce("test-tiny", marker=str(marker)),
        [images],
        remote,
        shard_size=SHARD,
        engine=EngineConfig("ray", batch_size=BATCH, concurrency=2),
    )
    killed = int(marker.read_text())
    assert killed != os.getpid()  # a worker died, not this process
    assert parts(remote) == parts(local)


@dataclass
class Broken(EmbedImagesTask):
    def __call__(self, items):
        raise ValueError(f"cannot embed {len(items)} images today")


def test_an_error_in_the_task_fails_the_job_with_its_message(local_ray, images, tmp_path):
    with pytest.raises(JobError, match="ValueError: cannot embed 3 images today"):
        run_image_job(
            Broken("test-tiny"),
            [images],
            tmp_path / "out",
            shard_size=SHARD,
            engine=EngineConfig("ray", batch_size=BATCH, concurrency=1),
        )
    assert not list((tmp_path / "out").glob("part-*"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ray_start(*args: str) -> subprocess.Popen:
    """``ray start --block ...`` in its own process group: SIGTERM to it stops every process it started."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),  # workers import vocabfree and these tests
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }  # nothing to drain: stop at once on SIGTERM
    return subprocess.Popen(
        [
            ray_cli,
            "start",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            "--num-gpus=0",
            f"--dashboard-agent-listen-port={free_port()}",
            *args,
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything of this cluster left in its process group


@pytest.fixture(scope="module")
def two_nodes():
    """A head and a second node on 127.0.0.1, one CPU each, so a pool of two actors spans both."""
    ray.shutdown()  # the module's local instance, if a test above started it
    port = free_port()
    head = ray_start("--head", f"--port={port}", "--include-dashboard=false")
    nodes = [head]
    try:
        deadline = time.monotonic() + 120  # generous: CI machines may be busy
        while not listening(port):  # ray.init on a dead address blocks for minutes: wait for the head first
            assert head.poll() is None, f"ray start --head exited with code {head.returncode}"
            assert time.monotonic() < deadline, "the head node did not come up in 120 s"
            time.sleep(0.5)
        ray.init(address=f"127.0.0.1:{port}")
        nodes.append(ray_start(f"--address=127.0.0.1:{port}"))
        while sum(n["Alive"] for n in ray.nodes()) < 2 and time.monotonic() < deadline:
            assert nodes[1].poll() is None, f"ray start --address exited with code {nodes[1].returncode}"
            time.sleep(0.5)
        assert sum(n["Alive"] for n in ray.nodes()) == 2, "the second node did not join in 120 s"
        ray.shutdown()  # the job connects by itself, as --ray-address does
        yield f"127.0.0.1:{port}"
    finally:
        ray.shutdown()
        for process in reversed(nodes):
            stop(process)
        current = Path("/tmp/ray/ray_current_cluster")  # `ray start` leaves its address for plain ray.init()
        if current.is_file() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


def test_two_node_cluster_writes_the_local_parts(two_nodes, images, tmp_path):
    # two actors of one CPU each: one runs on each node
    local, remote = run_both(EmbedImagesTask("test-tiny"), images, tmp_path, address=two_nodes)
    assert parts(remote) == parts(local)
    assert not ray.is_initialized()  # the job disconnected from the cluster it connected to
