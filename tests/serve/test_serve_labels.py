"""Text work off the image path: chunked behind the model gate, bounded queue (429), shared jobs, and
cancellation (a job whose requests all timed out stops at its next chunk and is not cached)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from tests.serve.serve_helpers import image_bytes
from vocabfree.serve.adapters import TaskLibrary
from vocabfree.serve.errors import BusyError
from vocabfree.serve.labels import GatedModel, ModelGate, TextWork


class CountingModel:
    """Stands in for a backend: counts ``encode_texts`` calls; each call can be made to wait for a release."""

    embed_dim = 4

    def __init__(self, block: threading.Event | None = None):
        self.calls = 0
        self.block = block

    def encode_texts(self, texts, **_):
        self.calls += 1
        if self.block is not None:
            self.block.wait(5)
        return np.ones((len(texts), self.embed_dim), np.float32)


def test_gated_model_encodes_in_chunks_with_the_same_result():
    model = CountingModel()
    gated = GatedModel(model, ModelGate(), chunk=8)
    out = gated.encode_texts([f"t{i}" for i in range(20)])
    assert out.shape == (20, 4) and model.calls == 3  # 8 + 8 + 4
    assert gated.embed_dim == 4  # everything else passes through


def test_text_waits_while_image_work_is_pending():
    pending = threading.Event()
    pending.set()
    gate = ModelGate(pending.is_set, defer_factor=4.0)
    gate._last_background_s = 1000.0  # a long last chunk: it must not cut in while images wait
    entered = threading.Event()

    def text_chunk():
        with gate.background():
            entered.set()

    worker = threading.Thread(target=text_chunk)
    worker.start()
    assert not entered.wait(0.2)  # image work pending: the text chunk waits
    with gate.urgent():  # image batches still get the model meanwhile
        pass
    pending.clear()
    worker.join(5)
    assert entered.is_set()


def test_cancelled_job_stops_at_the_next_chunk_and_is_not_cached():
    block = threading.Event()
    model = CountingModel(block)
    work = TextWork(GatedModel(model, ModelGate(), chunk=1), queue_chars=1000, cache_size=4)

    async def run() -> None:
        texts = [f"t{i}" for i in range(100)]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(work.run("k", lambda: work.model.encode_texts(texts), 10, cache=True), 0.1)
        block.set()  # the chunk in progress finishes; the job must then stop
        for _ in range(200):
            if "k" not in work._jobs:
                break
            await asyncio.sleep(0.01)

    asyncio.run(run())
    work.close()
    assert work.stats.cancelled == 1 and work.cached("k") is None
    assert model.calls <= 2  # one chunk running at the timeout (+ at most one started just before): not 100
    assert work.queued_chars == 0


def test_text_queue_is_bounded_and_same_key_requests_share_a_job():
    block = threading.Event()
    model = CountingModel(block)
    work = TextWork(GatedModel(model, ModelGate()), queue_chars=100, cache_size=4)

    async def run() -> list:
        encode = lambda: work.model.encode_texts(["a"])  # noqa: E731
        first = asyncio.ensure_future(work.run("same", encode, 80, cache=True))
        second = asyncio.ensure_future(work.run("same", encode, 80, cache=True))  # joins, not queued again
        await asyncio.sleep(0.05)
        with pytest.raises(BusyError, match="already waiting"):
            await work.run("other", encode, 30)
        block.set()
        return [await first, await second]

    a, b = asyncio.run(run())
    work.close()
    assert a is b and model.calls == 1 and work.stats.refused == 1 and work.cached("same") is a


def test_request_timeout_drops_label_work_end_to_end(make_client):
    """A label set that takes longer than request_timeout_s: the request is 503, its encoding stops."""
    chunks: list[int] = []

    class SlowFit(TaskLibrary):
        def fit_zero_shot(self, model, labels, templates):
            for i in range(10_000):  # far more than can finish in the timeout; each call is one gated chunk
                model.encode_texts(["red"] * 8)
                chunks.append(i)
                threading.Event().wait(0.002)
            raise AssertionError("the job should have been cancelled")

    client = make_client(request_timeout_s=0.3, library=SlowFit())
    files = {"file": ("x.png", image_bytes(), "image/png")}
    response = client.post("/v1/classify", files=files, data={"labels": "red, green"})
    assert response.status_code == 503 and response.json()["error"] == "timeout"
    engine = client.app.state.services.engine(None)
    for _ in range(300):
        if engine.texts.stats.cancelled:
            break
        threading.Event().wait(0.01)
    done = len(chunks)
    threading.Event().wait(0.1)
    assert engine.texts.stats.cancelled == 1 and len(chunks) == done < 10_000  # stopped, not finished
    assert client.get("/health").status_code == 200
