"""Jobs: run a task over a large input as shards on an engine (``local`` or ``ray``), write parquet parts
atomically, resume. Nothing heavy is imported here; ``ray`` only by the ray engine when it runs.

    from vocabfree.jobs import ClassifyImagesTask, EngineConfig, run_image_job
    task = ClassifyImagesTask("hf:openai/clip-vit-base-patch32", labels=["cat", "dog"])
    run_image_job(task, ["photos/"], "results.parquet", engine=EngineConfig("ray"))
"""

from vocabfree.jobs.classify_job import ClassifyImagesTask
from vocabfree.jobs.embed_job import EmbedCaptionsTask, EmbeddingReport, EmbedImagesTask, run_embedding
from vocabfree.jobs.engine import ENGINES, EngineConfig, JobError, run_shards
from vocabfree.jobs.runner import JobReport, list_inputs, run_image_job
from vocabfree.jobs.sinks import ParquetShardSink

__all__ = [
    "ENGINES",
    "ClassifyImagesTask",
    "EmbedCaptionsTask",
    "EmbedImagesTask",
    "EmbeddingReport",
    "EngineConfig",
    "JobError",
    "JobReport",
    "ParquetShardSink",
    "list_inputs",
    "run_embedding",
    "run_image_job",
    "run_shards",
]
