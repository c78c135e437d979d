"""The loaded state of a running server: models, their batchers, database and captioner.

``Services.build(settings)`` runs once in the app's lifespan (models and database load at start, never per
request) and the result lives on ``app.state.services``. Image work (micro-batches) runs on one inference
thread; text work (label sets, ``/v1/embed`` texts) on its own thread with its own bounded queue
(``labels.TextWork``). Both reach a model only through its ``ModelGate``: backends are not guaranteed
thread-safe, torch already uses every core inside one forward pass, and the gate gives image batches
priority over text chunks. Uploads are decoded on a small pool (bounded memory: a 40-megapixel PNG is
large while it decodes) and reduced to the model's input size at once, so what waits in a queue is small.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import httpx
import numpy as np
from PIL import Image

from vocabfree.classify.results import Prediction, VocabularyFreePrediction
from vocabfree.errors import UnknownBackendError
from vocabfree.images import load_image
from vocabfree.serve import fetch, inputs
from vocabfree.serve.adapters import TaskLibrary
from vocabfree.serve.batching import MicroBatcher
from vocabfree.serve.errors import InferenceTimeoutError, NotConfiguredError
from vocabfree.serve.labels import GatedModel, ModelGate, TextWork
from vocabfree.serve.settings import ServeSettings

if TYPE_CHECKING:
    from vocabfree.caption.captioner import Captioner
    from vocabfree.classify.zero_shot import ZeroShotClassifier
    from vocabfree.database import CaptionDatabase
    from vocabfree.models import VisionLanguageModel

log = logging.getLogger("vocabfree.serve")
DEFAULT_IMAGE_SIDE = 224  # input side assumed for a backend that does not say (``model.image_size``)
CaptionMethod = Literal["generated", "retrieved", "none"]  # how a server captions (GET /v1/models)
DECODE_WORKERS = 2  # concurrent decodes: bounds the transient memory of large uploads


def image_bytes(image: Image.Image) -> int:
    """Memory an image holds while it waits for the model (Pillow keeps RGB as 4 bytes per pixel)."""
    return image.width * image.height * 4


class ModelEngine:
    """One loaded model and the tasks that run on it, each callable from a request handler."""

    def __init__(
        self,
        model: VisionLanguageModel,
        *,
        library: TaskLibrary,
        settings: ServeSettings,
        executor: ThreadPoolExecutor,
        database: CaptionDatabase | None = None,
        captioner: Captioner | None = None,
    ):
        self.model = model
        self.library = library
        self.name: str = model.name
        self.settings = settings
        self.executor = executor
        self.image_side: int = int(getattr(model, "image_size", None) or DEFAULT_IMAGE_SIDE)
        self.vocabulary_free = library.build_vocabulary_free(model, database) if database is not None else None
        self.captioner = captioner
        batch: dict[str, Any] = {
            "executor": executor,
            "max_batch": settings.max_batch,
            "max_wait_s": settings.max_wait_ms / 1000,
            "max_queue": settings.max_queue,
        }
        self.incoming = 0  # requests of this engine whose image is being fetched or decoded
        self.image_batcher: MicroBatcher[Image.Image, np.ndarray] = MicroBatcher(
            self._encode_images,
            name=f"{self.name}/images",
            max_queue_weight=settings.max_queue_bytes,
            weight=image_bytes,
            incoming=lambda: self.incoming,
            incoming_wait_s=settings.incoming_wait_ms / 1000,
            **batch,
        )
        self.open_batcher: MicroBatcher[tuple[np.ndarray, int], VocabularyFreePrediction] = MicroBatcher(
            self._predict_open, name=f"{self.name}/vocabulary-free", **batch
        )
        self.caption_batcher: MicroBatcher[Image.Image, str] = MicroBatcher(
            self._generate,
            name=f"{self.name}/captions",
            max_queue_weight=settings.max_queue_bytes,
            weight=image_bytes,
            **batch,
        )
        batchers = (self.image_batcher, self.open_batcher, self.caption_batcher)
        self.gate = ModelGate(lambda: any(b.busy for b in batchers))
        self.texts = TextWork(
            GatedModel(model, self.gate),
            queue_chars=settings.label_queue_chars,
            cache_size=settings.label_cache_size,
            name=f"{self.name}-text",
        )

    @property
    def caption_method(self) -> CaptionMethod:
        if self.captioner is not None:
            return "generated"
        return "retrieved" if self.vocabulary_free is not None else "none"

    # -- functions run on the executor (plain, blocking) -----------------------------------------------

    def _encode_images(self, images: list[Image.Image]) -> list[np.ndarray]:
        with self.gate.urgent():
            embeddings = self.model.encode_images(images, batch_size=max(len(images), 1))  # (N, D)
        return list(np.asarray(embeddings, dtype=np.float32))

    def _predict_open(self, items: list[tuple[np.ndarray, int]]) -> list[VocabularyFreePrediction]:
        # One call for the whole batch at the largest k asked, then each answer trimmed to its own k.
        top_k = max(k for _, k in items)
        assert self.vocabulary_free is not None  # only batched when the engine has one
        with self.gate.urgent():
            predictions = self.library.predict_vocabulary_free(
                self.vocabulary_free, np.stack([e for e, _ in items]), top_k
            )
        return [
            replace(p, labels=p.labels[:k], scores=p.scores[:k]) for p, (_, k) in zip(predictions, items, strict=True)
        ]

    def _generate(self, images: list[Image.Image]) -> list[str]:
        assert self.captioner is not None  # only batched when the engine has one
        with self.gate.urgent():
            return self.library.generate_captions(self.captioner, images)

    def warm_up(self) -> None:
        """Run every configured task once on a blank image (blocking; at startup).

        The first request then does not pay torch's lazy initialisation, and a database or checkpoint that
        loads but cannot run (wrong model, missing lexicon data) fails at start instead of per request.
        """
        probe = Image.new("RGB", (64, 64), (127, 127, 127))
        embeddings = np.stack(self._encode_images([probe]))  # (1, D)
        # A first label set loads what label encoding needs once (WordNet, calibration references).
        self.library.fit_zero_shot(self.texts.model, ("object",), self.settings.templates)
        if self.vocabulary_free is not None:
            self._predict_open([(embeddings[0], 1)])
        if self.captioner is not None:
            self._generate([probe])

    # -- async API used by the routes ------------------------------------------------------------------

    async def _timed(self, awaitable, what: str):
        try:
            return await asyncio.wait_for(awaitable, self.settings.request_timeout_s)
        except TimeoutError:
            raise InferenceTimeoutError(
                f"{what} did not finish within {self.settings.request_timeout_s:g} s (server busy); retry"
            ) from None

    async def embed_image(self, image: Image.Image) -> np.ndarray:
        """(D,) embedding of one image, computed in a micro-batch with concurrent requests."""
        return await self._timed(self.image_batcher.submit(image), "image encoding")

    async def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(N, D) text embeddings, encoded on the text thread (yielding to image batches)."""
        gated = self.texts.model
        chars = sum(len(t) for t in texts)
        out = await self._timed(self.texts.run(object(), lambda: gated.encode_texts(texts), chars), "text encoding")
        return np.asarray(out, dtype=np.float32)

    async def label_set(self, labels: tuple[str, ...]) -> ZeroShotClassifier:
        """The zero-shot classifier for ``labels``: cached, or fitted on the text thread (not timed here)."""
        gated, templates, library = self.texts.model, self.settings.templates, self.library
        return await self.texts.run(
            ("zero-shot", labels),
            lambda: library.fit_zero_shot(gated, labels, templates),
            sum(len(label) for label in labels),
            cache=True,
        )

    async def classify(self, image: Image.Image, labels: tuple[str, ...], top_k: int) -> Prediction:
        async def run() -> tuple[ZeroShotClassifier, np.ndarray]:
            # Labels first: a refused label set (429) costs no image work. One deadline covers both.
            return await self.label_set(labels), await self.image_batcher.submit(image)

        classifier, embedding = await self._timed(run(), "classification")
        # Scoring one embedding against cached label embeddings is a small matrix product: no model call.
        (prediction,) = self.library.predict_zero_shot(classifier, embedding[None], min(top_k, len(labels)))
        return prediction

    async def classify_open(self, image: Image.Image, top_k: int) -> VocabularyFreePrediction:
        if self.vocabulary_free is None:
            raise NotConfiguredError(
                "no labels given and this server has no caption database for vocabulary-free classification: "
                "pass labels, or start the server with --db PATH"
            )
        embedding = await self.embed_image(image)
        return await self._timed(self.open_batcher.submit((embedding, top_k)), "vocabulary-free classification")

    async def caption(self, image: Image.Image) -> tuple[str, Literal["generated", "retrieved"]]:
        """(caption, method): generated by the captioner, else the nearest caption in the database."""
        if self.captioner is not None:
            return await self._timed(self.caption_batcher.submit(image), "captioning"), "generated"
        if self.vocabulary_free is not None:
            prediction = await self.classify_open(image, 1)
            if prediction.captions:
                return prediction.captions[0].text, "retrieved"
        raise NotConfiguredError(
            "captioning is not configured on this server: start it with --caption-checkpoint DIR "
            "(or --db PATH to answer with the nearest database caption)"
        )

    async def aclose(self) -> None:
        for batcher in (self.image_batcher, self.open_batcher, self.caption_batcher):
            await batcher.aclose()
        self.texts.close()


class Services:
    """Everything a request handler needs, built once per app by the lifespan."""

    def __init__(self, settings: ServeSettings, engines: dict[str, ModelEngine], executor: ThreadPoolExecutor):
        self.settings = settings
        self.engines = engines
        self.executor = executor
        self.started = time.monotonic()
        self.http: httpx.AsyncClient = fetch.make_client(settings)
        self.resolve: fetch.Resolver = fetch.system_resolve  # tests swap in a stub resolver
        self.decoder = ThreadPoolExecutor(max_workers=DECODE_WORKERS, thread_name_prefix="vocabfree-decode")

    @classmethod
    def build(cls, settings: ServeSettings, library: TaskLibrary | None = None) -> Services:
        """Load every configured model (and database, captioner) through ``library`` (default: the real one);
        blocking, called once at startup."""
        library = library or TaskLibrary()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vocabfree-infer")
        engines: dict[str, ModelEngine] = {}
        for i, name in enumerate(settings.models):
            t0 = time.perf_counter()
            model = library.load_model(name, settings.device)
            # The database and captioner are tied to the embedding space of the first (default) model.
            database = library.open_database(settings.database, model) if settings.database and i == 0 else None
            # Generated captions: the given checkpoint, else the shipped captioner where its weights are here.
            captioner = (
                library.load_captioner(settings.caption_checkpoint, model)
                if i == 0 and (settings.caption_checkpoint or library.offers_shipped_captioner(model))
                else None
            )
            engine = ModelEngine(
                model, library=library, settings=settings, executor=executor, database=database, captioner=captioner
            )
            if settings.warmup:
                engine.warm_up()
            engines[name] = engine
            if engine.name != name:
                engines.setdefault(engine.name, engine)
            log.info(
                "loaded model %s (embed_dim=%d) in %.1f s; vocabulary-free: %s; captions: %s",
                name,
                model.embed_dim,
                time.perf_counter() - t0,
                "yes" if database is not None else "no",
                engine.caption_method,
            )
        return cls(settings, engines, executor)

    def engine(self, name: str | None) -> ModelEngine:
        if name is None:
            return self.engines[self.settings.default_model]
        if name not in self.engines:
            raise UnknownBackendError(
                f"model {name!r} is not loaded on this server; loaded: {', '.join(self.settings.models)} "
                "(see GET /v1/models)"
            )
        return self.engines[name]

    async def load_image(self, ref: inputs.ImageRef, engine: ModelEngine | None = None) -> Image.Image:
        """Fetch (if a URL) and decode an image off the event loop: pixel limit, format whitelist, and reduced
        to about twice ``engine``'s input side (the default model's when not given)."""
        if ref.data is not None:
            data = ref.data
        else:
            data = await fetch.fetch_url(self.http, ref.url or "", self.settings, resolve=self.resolve)
        engine = engine or self.engine(None)
        engine.incoming += 1  # the batcher may wait a moment for this image (see MicroBatcher._collect)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.decoder, _decode, data, self.settings, engine.image_side)
        finally:
            engine.incoming -= 1

    async def aclose(self) -> None:
        for engine in {id(e): e for e in self.engines.values()}.values():
            await engine.aclose()
        await self.http.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.decoder.shutdown(wait=False, cancel_futures=True)


def _decode(image: inputs.ImageBytes, settings: ServeSettings, side: int) -> Image.Image:
    """Decode off the event loop; errors name the upload or URL (``image.name``), not "<N bytes>"."""
    return load_image(
        image.data, name=image.name, max_pixels=settings.max_pixels, formats=settings.image_formats, min_side=side
    )
