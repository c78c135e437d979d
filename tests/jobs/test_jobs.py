"""Jobs on the local engine: one row per input, results equal the classifiers called directly, parquet
parts written atomically and resumed (a killed job, a lost or corrupt part) to the same bytes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import TINY_CAPTIONS, build_tiny_db, needs_wordnet
from tests.jobs.conftest import COLOURS, LABELS
from vocabfree.classify.zero_shot import ZeroShotClassifier
from vocabfree.errors import ImageLoadError, InvalidInputError
from vocabfree.images import load_image
from vocabfree.jobs import (
    ClassifyImagesTask,
    EmbedImagesTask,
    EngineConfig,
    list_inputs,
    run_embedding,
    run_image_job,
)
from vocabfree.jobs.embed_job import embedding_matrix
from vocabfree.jobs.sinks import JOB, SUCCESS, part_name


def parts(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("part-*.parquet"))}


def good_and_bad(items):
    good, bad = [], []
    for item in items:
        try:
            good.append((item, load_image(item)))
        except ImageLoadError:
            bad.append(item)
    return good, bad


def test_zero_shot_job_one_row_per_input_matches_the_classifier(image_dir, tmp_path, tiny_model):
    out = tmp_path / "results.parquet"
    report = run_image_job(ClassifyImagesTask("test-tiny", labels=LABELS, top_k=3), [image_dir], out, shard_size=4)
    items = list_inputs([image_dir])
    table = pq.read_table(out)  # the folder reads as one table
    assert table.column_names == ["source", "label", "score", "labels", "scores", "error"]
    assert table["source"].to_pylist() == items
    assert (report.inputs, report.shards, report.rows, report.errors) == (13, 4, 13, 2)
    assert sorted(parts(out)) == [part_name(k) for k in range(4)] and (out / SUCCESS).is_file()

    good, bad = good_and_bad(items)
    rows = {r["source"]: r for r in table.to_pylist()}
    for item in bad:
        assert rows[item]["label"] is None and rows[item]["labels"] is None and item in rows[item]["error"]
    clf = ZeroShotClassifier(tiny_model, batch_size=32).fit(None, LABELS)
    expected = clf.predict_topk([im for _, im in good], k=3)
    for (item, _), pred in zip(good, expected, strict=True):
        row = rows[item]
        assert row["error"] is None
        assert row["labels"] == list(pred.labels) and row["label"] == pred.labels[0]
        np.testing.assert_allclose(row["scores"], pred.scores, rtol=1e-6)
    # known answers of the tiny model: a solid image of a listed colour is named that colour
    for i, colour in enumerate(COLOURS[:8] + COLOURS[:3]):
        if colour in LABELS:
            assert rows[str(image_dir / f"img{i:03d}.png")]["label"] == colour


def test_embed_job_rows_equal_the_model_and_failures_are_null(image_dir, tmp_path, tiny_model):
    out = tmp_path / "emb"
    run_image_job(EmbedImagesTask("test-tiny"), [image_dir], out, shard_size=5)
    table = pq.read_table(out)
    good, bad = good_and_bad(table["source"].to_pylist())
    ok = table.filter(table["error"].is_null())
    assert ok["source"].to_pylist() == [item for item, _ in good]
    np.testing.assert_allclose(
        embedding_matrix(ok["embedding"]), tiny_model.encode_images([im for _, im in good]), rtol=1e-6
    )
    failed = table.filter(table["error"].is_valid())
    assert failed["source"].to_pylist() == bad and failed["embedding"].null_count == len(bad)


def test_rerun_skips_finished_parts_and_redoes_lost_or_corrupt_ones(image_dir, tmp_path):
    task = EmbedImagesTask("test-tiny")
    reference = tmp_path / "reference"
    run_image_job(task, [image_dir], reference, shard_size=4)
    out = tmp_path / "out"
    run_image_job(task, [image_dir], out, shard_size=4)
    (out / part_name(1)).unlink()
    (out / part_name(2)).write_bytes(b"torn")
    (out / f".{part_name(3)}.tmp").write_bytes(b"half a file from a killed run")
    report = run_image_job(task, [image_dir], out, shard_size=4)
    assert (report.shards_skipped, report.rows) == (2, 8)
    assert parts(out) == parts(reference)
    assert not list(out.glob(".*.tmp"))


@dataclass
class DiesAtShard(EmbedImagesTask):
    """An embed task whose process 'dies' (raises) on its n-th call: the state a killed job leaves."""

    calls_before_death: int = 2

    def __call__(self, items):
        self.calls_before_death -= 1
        if self.calls_before_death < 0:
            raise KeyboardInterrupt
        return super().__call__(items)


def test_a_killed_job_resumes_to_the_same_parts(image_dir, tmp_path):
    reference = tmp_path / "reference"
    run_image_job(EmbedImagesTask("test-tiny"), [image_dir], reference, shard_size=3)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_image_job(DiesAtShard("test-tiny"), [image_dir], out, shard_size=3, engine=EngineConfig(batch_size=3))
    assert sorted(parts(out)) == [part_name(0), part_name(1)] and not (out / SUCCESS).exists()
    report = run_image_job(EmbedImagesTask("test-tiny"), [image_dir], out, shard_size=3)
    assert report.shards_skipped == 2
    assert parts(out) == parts(reference)


def test_another_job_into_the_same_folder_is_refused(image_dir, tmp_path):
    out = tmp_path / "out"
    run_image_job(ClassifyImagesTask("test-tiny", labels=LABELS), [image_dir], out, shard_size=4)
    with pytest.raises(InvalidInputError, match="labels"):
        run_image_job(ClassifyImagesTask("test-tiny", labels=LABELS[:2]), [image_dir], out, shard_size=4)
    with pytest.raises(InvalidInputError, match="shard_size"):
        run_image_job(ClassifyImagesTask("test-tiny", labels=LABELS), [image_dir], out, shard_size=5)
    report = run_image_job(
        ClassifyImagesTask("test-tiny", labels=LABELS[:2]), [image_dir], out, shard_size=4, overwrite=True
    )
    assert report.shards_skipped == 0
    assert set(pq.read_table(out)["label"].drop_null().to_pylist()) <= set(LABELS[:2])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match=JOB):
        run_image_job(EmbedImagesTask("test-tiny"), [image_dir], foreign, overwrite=True)
    assert (foreign / "notes.txt").is_file()
    with pytest.raises(InvalidInputError, match="is a file"):
        run_image_job(EmbedImagesTask("test-tiny"), [image_dir], foreign / "notes.txt")


def test_list_files_are_read_as_written_and_missing_files_become_error_rows(image_dir, tmp_path):
    listing = tmp_path / "inputs.txt"
    lines = ["# my images", image_dir / "img002.png", "", tmp_path / "gone.jpg", image_dir / "img001.png"]
    listing.write_text("\n".join(map(str, lines)) + "\n")
    assert list_inputs([listing]) == [
        str(image_dir / "img002.png"),
        str(tmp_path / "gone.jpg"),
        str(image_dir / "img001.png"),
    ]
    out = tmp_path / "out"
    run_image_job(ClassifyImagesTask("test-tiny", labels=LABELS, top_k=1), [listing], out)
    rows = pq.read_table(out).to_pylist()
    assert [r["label"] for r in rows] == ["blue", None, "green"]
    assert rows[1]["error"] == f"{tmp_path / 'gone.jpg'}: no such file"


@needs_wordnet
def test_vocabulary_free_job_matches_the_classifier(tmp_path, tiny_model, colour_images):
    from vocabfree.classify.vocabulary_free import VocabularyFreeClassifier

    db = build_tiny_db(tmp_path / "db", tiny_model, TINY_CAPTIONS[:8])
    out = tmp_path / "out"
    run_image_job(ClassifyImagesTask("test-tiny", db=str(tmp_path / "db"), top_k=2), list(colour_images.values()), out)
    rows = pq.read_table(out).to_pylist()
    expected = VocabularyFreeClassifier(tiny_model, db).predict(list(colour_images.values()), top_k=2)
    assert [r["labels"] for r in rows] == [list(p.labels) for p in expected]
    assert [r["label"] for r in rows][::2] == ["red", "blue"]


def test_run_embedding_writes_the_database_shards(tmp_path, tiny_model):
    from vocabfree.database.shards import embed_shard, read_shard, split_shards

    captions = TINY_CAPTIONS * 2
    report = run_embedding(split_shards(captions, 6), "test-tiny", tmp_path / "shards", engine="local")
    assert (report.shards, report.shards_skipped, report.captions) == (4, 0, 20)
    for k, chunk in split_shards(captions, 6):
        got, emb, info = read_shard(tmp_path / "shards", k)
        assert got == chunk and info.model == "test-tiny"
        np.testing.assert_array_equal(emb, embed_shard(tiny_model, chunk))
    (tmp_path / "shards" / "000002.npy").write_bytes(b"corrupt")
    again = run_embedding(split_shards(captions, 6), "test-tiny", tmp_path / "shards", engine="local")
    assert (again.shards, again.shards_skipped) == (1, 3)
    assert read_shard(tmp_path / "shards", 2)[0] == captions[12:18]


def test_engine_config_is_checked():
    with pytest.raises(InvalidInputError, match="unknown engine"):
        EngineConfig(engine="spark")
    with pytest.raises(InvalidInputError, match="batch_size"):
        EngineConfig(batch_size=0)
    with pytest.raises(InvalidInputError, match="labels"):
        ClassifyImagesTask("test-tiny")
