"""Bounded loopback load test of the HTTP service: throughput and latency with micro-batching on and off.

For each batching mode the script starts ``python -m vocabfree.serve`` on 127.0.0.1 (a free port), waits for
``/health``, then for each client count N runs N concurrent clients that POST real photos (Caltech-101 test
images from ``<repo>/../shared/data``) to ``/v1/classify`` with a fixed label set, until ``--requests``
requests are done or ``--max-seconds`` pass. It reports requests/s, p50/p95 latency, the error count (any
non-200 or transport error) and the mean micro-batch size the server saw, as a markdown table.

Traffic goes only to 127.0.0.1 and is bounded in count and time. The client runs on the same machine, so
on a small machine it competes with the server for CPU; compare rows of one run, not across machines.

    python benchmarks/serve_load.py                       # local model, N = 1, 4, 16, batching on/off
    python benchmarks/serve_load.py --model test-tiny     # no weights needed (plumbing overhead only)
    python benchmarks/serve_load.py --fallback-tiny       # local if it loads, else test-tiny (says so)
    python benchmarks/serve_load.py --endpoint embed      # image embedding only (no label scoring)
    python benchmarks/serve_load.py --scenario mixed      # 8 ordinary clients, alone and beside one sending
                                                          # 1,000 new 200-character labels per request
    python benchmarks/serve_load.py --scenario big-png    # 32 concurrent 39.7-megapixel tiny PNGs: peak RSS

``--scenario mixed`` reports the ordinary clients' p95 alone and beside the heavy client (and their ratio),
and what the heavy client got (status counts); ``--label-budget`` raises the server's per-request label
budget so the heavy requests are accepted and must share the model instead of being refused with 413.
``--scenario big-png`` reports the server's idle RSS and its peak RSS while answering (Linux /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import itertools
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from _common import cpu_model

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "caltech101"
DEFAULT_LABELS = "airplane, motorbike, face, leopard, watch, car, chair, dog, lotus, piano"


@dataclass
class Row:
    batching: str
    clients: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    mean_batch: float

    def cells(self) -> list[str]:
        lat = sorted(self.latencies) or [float("nan")]
        p50 = statistics.median(lat) * 1000
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] * 1000
        return [
            self.batching,
            str(self.clients),
            str(self.requests),
            f"{self.requests / self.seconds:.1f}",
            f"{p50:.0f}",
            f"{p95:.0f}",
            str(self.errors),
            f"{self.mean_batch:.2f}",
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_images(count: int) -> list[tuple[str, bytes]]:
    if not (DATA / "test.csv").is_file():
        sys.exit(f"shared data not found at {DATA} (expected <repo>/../shared/data/caltech101/test.csv)")
    with open(DATA / "test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // count)  # spread over classes instead of 'count' faces
    chosen = rows[::step][:count]
    return [(Path(r["path"]).name, (DATA / r["path"]).read_bytes()) for r in chosen]


class Server:
    """``python -m vocabfree.serve`` in a subprocess, configured through VOCABFREE_* variables."""

    def __init__(self, model: str, max_batch: int, max_wait_ms: float, log: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "VOCABFREE_MODEL": model,
            "VOCABFREE_HOST": "127.0.0.1",
            "VOCABFREE_PORT": str(self.port),
            "VOCABFREE_MAX_BATCH": str(max_batch),
            "VOCABFREE_MAX_WAIT_MS": str(max_wait_ms),
            "VOCABFREE_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        self.log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vocabfree.serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with code {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not ready after {timeout:.0f} s; see {self.log.name}")

    def batch_stats(self) -> tuple[int, int]:
        (stats,) = httpx.get(self.url + "/health", timeout=10).json()["batching"].values()
        return stats["batches"], stats["items"]

    def rss_kib(self, field: str = "VmRSS") -> int:
        """Resident memory of the server process (VmRSS now, VmHWM peak since ``reset_peak``), in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.proc.pid}/status")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


async def run_clients(
    url: str,
    images,
    labels,
    clients: int,
    total: int,
    max_seconds: float,
    endpoint: str = "classify",
    statuses: dict | None = None,
):
    """N clients share a counter of ``total`` requests; stop early at ``max_seconds``. Returns latencies etc.

    ``labels`` is a string or a function giving each request's labels; ``statuses`` collects status counts.
    """
    latencies: list[float] = []
    failures: list[str] = []  # the first failure, shown so an error count is never a mystery
    errors = 0
    issued = 0
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal issued, errors
            while issued < total and time.monotonic() < deadline:
                name, data = images[issued % len(images)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    text = labels() if callable(labels) else labels
                    response = await client.post(
                        f"/v1/{endpoint}",
                        files={"file": (name, data, "image/jpeg")},
                        data={"labels": text} if endpoint == "classify" else {},
                    )
                    ok = response.status_code == 200
                    if statuses is not None:
                        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if not ok and not failures:
                        failures.append(f"HTTP {response.status_code}: {response.text[:300]}")
                except httpx.HTTPError as exc:
                    ok = False
                    if not failures:
                        failures.append(f"{type(exc).__name__}: {exc}")
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        if failures:
            print(f"# first failure: {failures[0]}", file=sys.stderr)
        return latencies, errors, time.perf_counter() - start


def heavy_labels(count: int = 1000, chars: int = 200) -> str:
    """``count`` never-seen labels of ``chars`` characters each, one per line (the abusive request)."""
    return "\n".join((uuid.uuid4().hex + " " + "lorem ipsum dolor " * 12)[:chars] for _ in range(count))


def percentile95(latencies: list[float]) -> float:
    lat = sorted(latencies) or [float("nan")]
    return lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] * 1000


def scenario_mixed(args, images) -> None:
    env = {}
    if args.label_budget:
        budget = str(args.label_budget)
        env = {"VOCABFREE_MAX_LABEL_BUDGET": budget, "VOCABFREE_LABEL_QUEUE_CHARS": budget}
    server = Server(args.model, args.max_batch, args.max_wait_ms, args.log_dir / "serve_load_mixed.log", env)
    heavy_statuses: dict[int, int] = {}
    # Made up front so the client's own CPU (it shares the machine) is not spent while measuring; a set is
    # reused only if more heavy requests are sent than there are sets (refused ones, with the default budget).
    heavy_sets = itertools.cycle([heavy_labels() for _ in range(64)])

    async def beside_heavy():
        stop = asyncio.Event()

        async def heavy() -> None:
            name, data = images[0]
            async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
                while not stop.is_set():
                    response = await client.post(
                        "/v1/classify", files={"file": (name, data, "image/jpeg")}, data={"labels": next(heavy_sets)}
                    )
                    heavy_statuses[response.status_code] = heavy_statuses.get(response.status_code, 0) + 1

        task = asyncio.ensure_future(heavy())
        await asyncio.sleep(1.0)  # the heavy request is in the server first
        try:
            return await run_clients(server.url, images, args.labels, 8, args.requests, args.max_seconds)
        finally:
            stop.set()
            task.cancel()

    try:
        server.wait_ready(300)
        asyncio.run(run_clients(server.url, images, args.labels, 4, 8, 60))  # warm-up: labels cached
        alone: list[float] = []
        beside: list[float] = []
        errors = [0, 0]
        for _ in range(args.repeats):  # interleaved, so drifting background load hits both alike
            lat, err, _ = asyncio.run(run_clients(server.url, images, args.labels, 8, args.requests, args.max_seconds))
            alone += lat
            errors[0] += err
            lat, err, _ = asyncio.run(beside_heavy())
            beside += lat
            errors[1] += err
        health = httpx.get(server.url + "/health", timeout=10).json()["batching"]
    finally:
        server.stop()
    p_alone, p_beside = percentile95(alone), percentile95(beside)
    print(
        f"\nModel `{args.model}`, 8 ordinary clients ({len(args.labels.split(','))} labels), label budget "
        f"{args.label_budget or 'default'}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} after.\n"
    )
    print("| ordinary clients | requests | p50 ms | p95 ms | errors |\n|---|---|---|---|---|")
    for what, lat, err in (("alone", alone, errors[0]), ("beside the heavy client", beside, errors[1])):
        print(f"| {what} | {len(lat)} | {statistics.median(lat) * 1000:.0f} | {percentile95(lat):.0f} | {err} |")
    print(
        f"\np95 ratio beside/alone: {p_beside / p_alone:.2f}; heavy client (1,000 new 200-character labels per "
        f"request) got {dict(sorted(heavy_statuses.items()))}; server text stats: "
        f"{ {k: v for s in health.values() for k, v in s.items() if k.startswith(('text', 'label'))} }"
    )
    if errors[1] or errors[0]:
        sys.exit(1)


def scenario_big_png(args) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (6300, 6300), (200, 30, 40)).save(buffer, "PNG", optimize=True)  # 39.7 MP
    data = buffer.getvalue()
    server = Server(args.model, args.max_batch, args.max_wait_ms, args.log_dir / "serve_load_bigpng.log")
    try:
        server.wait_ready(300)
        asyncio.run(run_clients(server.url, load_images(8), args.labels, 4, 8, 60))  # warm-up, ordinary photos
        time.sleep(2)
        idle = server.rss_kib()
        server.reset_peak()
        lat, errors, seconds = asyncio.run(
            run_clients(server.url, [("big.png", data)], args.labels, 32, 32, args.max_seconds)
        )
        peak, after = server.rss_kib("VmHWM"), server.rss_kib()
    finally:
        server.stop()
    print(
        f"\nModel `{args.model}`, 32 concurrent uploads of a {len(data):,}-byte 6300x6300 RGB PNG; "
        f"{os.cpu_count()} CPUs.\n"
    )
    print("| idle RSS MiB | peak RSS MiB | peak / idle | RSS after MiB | requests | errors | p95 ms | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {idle / 1024:.0f} | {peak / 1024:.0f} | {peak / idle:.2f} | {after / 1024:.0f} | {len(lat)} | {errors} "
        f"| {percentile95(lat):.0f} | {seconds:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local")
    parser.add_argument("--fallback-tiny", action="store_true", help="use test-tiny if --model fails to start")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client counts")
    parser.add_argument("--requests", type=int, default=96, help="requests per (mode, clients) cell")
    parser.add_argument("--max-seconds", type=float, default=60, help="time cap per cell")
    parser.add_argument("--max-batch", type=int, default=16, help="batch size when batching is on")
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--images", type=int, default=32, help="distinct photos cycled through")
    parser.add_argument("--labels", default=DEFAULT_LABELS)
    parser.add_argument("--modes", default="on,off", help="batching modes to run: on, off or both")
    parser.add_argument(
        "--endpoint",
        choices=["classify", "embed"],
        default="classify",
        help="classify: zero-shot over --labels; embed: image embedding only",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="run every cell this many times (interleaved) and pool the measurements"
    )
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--scenario", choices=["clients", "mixed", "big-png"], default="clients")
    parser.add_argument("--label-budget", type=int, default=0, help="mixed: server's max_label_budget (0: default)")
    args = parser.parse_args()
    if args.scenario == "mixed":
        return scenario_mixed(args, load_images(args.images))
    if args.scenario == "big-png":
        return scenario_big_png(args)

    images = load_images(args.images)
    load_before = os.getloadavg()[0]
    client_counts = [int(c) for c in args.clients.split(",")]
    modes = args.modes.split(",")
    model = args.model
    servers: dict[str, Server] = {}
    rows: list[Row] = []
    try:
        # One server per mode, started one after the other (model loading is heavy) and all kept up, so
        # the cells can alternate between modes: background load drifting over the run then hits both alike.
        for mode in modes:
            max_batch = args.max_batch if mode == "on" else 1
            log = args.log_dir / f"serve_load_{mode}.log"
            servers[mode] = Server(model, max_batch, args.max_wait_ms, log)
            try:
                servers[mode].wait_ready(300)
            except RuntimeError as exc:
                if not args.fallback_tiny or model == "test-tiny" or len(servers) > 1:
                    raise
                print(f"# {model} did not start ({exc}); falling back to test-tiny", file=sys.stderr)
                servers.pop(mode).stop()
                model = "test-tiny"
                servers[mode] = Server(model, max_batch, args.max_wait_ms, log)
                servers[mode].wait_ready(120)
            # Warm-up (label embeddings, allocator, first-batch effects); not measured.
            asyncio.run(run_clients(servers[mode].url, images, args.labels, 4, 8, 60, args.endpoint))
        cells: dict[tuple[str, int], list[Row]] = {}
        for _repeat, clients, mode in itertools.product(range(args.repeats), client_counts, modes):
            server = servers[mode]
            before = server.batch_stats()
            latencies, errors, seconds = asyncio.run(
                run_clients(server.url, images, args.labels, clients, args.requests, args.max_seconds, args.endpoint)
            )
            after = server.batch_stats()
            batches, items = after[0] - before[0], after[1] - before[1]
            max_batch = args.max_batch if mode == "on" else 1
            row = Row(
                f"{mode} (max {max_batch})",
                clients,
                len(latencies),
                seconds,
                latencies,
                errors,
                items / batches if batches else 0.0,
            )
            cells.setdefault((mode, clients), []).append(row)
            print("  ".join(row.cells()), file=sys.stderr)
        for parts in cells.values():  # pool repeats: all latencies, total requests over total time
            rows.append(
                Row(
                    parts[0].batching,
                    parts[0].clients,
                    sum(p.requests for p in parts),
                    sum(p.seconds for p in parts),
                    [x for p in parts for x in p.latencies],
                    sum(p.errors for p in parts),
                    statistics.fmean(p.mean_batch for p in parts),
                )
            )
    finally:
        for server in servers.values():
            server.stop()
    rows.sort(key=lambda r: (modes.index(r.batching.split()[0]), r.clients))

    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = "?"
    what = f"{len(args.labels.split(','))} labels" if args.endpoint == "classify" else "image embedding"
    print(
        f"\nModel `{model}`, POST /v1/{args.endpoint} (multipart JPEG, {what}), "
        f"{os.cpu_count()} CPUs ({cpu_model()}), torch threads {threads}, "
        f"max_wait_ms {args.max_wait_ms:g}, client and server on one machine; 1-min load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n"
    )
    header = ["batching", "clients", "requests", "req/s", "p50 ms", "p95 ms", "errors", "mean batch"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    if any(row.errors for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
