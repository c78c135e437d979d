import json

from typer.testing import CliRunner

from vocabfree.cli import app

runner = CliRunner()


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ask_with_question_flag_follows_the_json_schema(tiny_vqa_checkpoint, tiny_vqa_root):
    images = sorted((tiny_vqa_root / "images").glob("test_*.png"))[:2]
    out = _json(
        runner.invoke(
            app,
            [
                "vqa",
                *map(str, images),
                "-q",
                "What color is the picture?",
                "-q",
                "Is this red?",
                "--checkpoint",
                str(tiny_vqa_checkpoint),
                "--json",
            ],
        )
    )
    assert out["command"] == "vqa" and out["model"] == "run"
    assert [(r["source"], r["question"]) for r in out["results"]] == [
        (str(i), q) for i in images for q in ("What color is the picture?", "Is this red?")
    ]
    # The CLI's answers are the library's answers for the same (image, question) pairs, in order.
    from vocabfree.vqa import VQAModel

    questions = [r["question"] for r in out["results"]]
    expected = VQAModel.load(tiny_vqa_checkpoint).answer([str(i) for i in images for _ in range(2)], questions)
    assert [r["answer"] for r in out["results"]] == [a.answer for a in expected]
    assert all(r["error"] is None and r["answer"] for r in out["results"])


def test_questions_file_jsonl_and_text(tiny_vqa_checkpoint, tiny_vqa_root, tmp_path):
    text = tmp_path / "q.txt"
    text.write_text("What color is the picture?\n\nIs this blue?\n")
    image = tiny_vqa_root / "images" / "test_red_0.png"
    out = _json(
        runner.invoke(
            app, ["vqa", "ask", str(image), "--questions", str(text), "-c", str(tiny_vqa_checkpoint), "--json"]
        )
    )
    assert [r["question"] for r in out["results"]] == ["What color is the picture?", "Is this blue?"]
    rows = tmp_path / "q.jsonl"
    rows.write_text(json.dumps({"image": str(image), "question": "Is this red?"}) + "\n")
    out = _json(runner.invoke(app, ["vqa", "--questions", str(rows), "-c", str(tiny_vqa_checkpoint), "--json"]))
    assert [(r["source"], r["question"]) for r in out["results"]] == [(str(image), "Is this red?")]


def test_unreadable_image_is_a_row_with_skip_errors(tiny_vqa_checkpoint, tiny_vqa_root, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    good = tiny_vqa_root / "images" / "test_red_0.png"
    args = ["vqa", str(bad), str(good), "-q", "Is this red?", "-c", str(tiny_vqa_checkpoint), "--json"]
    out = _json(runner.invoke(app, [*args, "--skip-errors"]))
    assert out["results"][0]["error"] and out["results"][0]["answer"] is None
    assert out["results"][1]["error"] is None and out["results"][1]["answer"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "bad.jpg" in str(result.exception or result.output)


def test_no_question_is_an_error(tiny_vqa_checkpoint, tiny_vqa_root):
    result = runner.invoke(app, ["vqa", str(tiny_vqa_root / "images"), "-c", str(tiny_vqa_checkpoint)])
    assert result.exit_code == 1 and "no question" in str(result.exception)


def test_eval_json_has_accuracy_and_answer_types_beside_baselines(tiny_vqa_checkpoint, tiny_vqa_root):
    out = _json(
        runner.invoke(
            app,
            [
                "vqa",
                "eval",
                "--data",
                str(tiny_vqa_root / "questions.jsonl"),
                "--split",
                "test",
                "-c",
                str(tiny_vqa_checkpoint),
                "--token-cache",
                "",
                "--json",
            ],
        )
    )
    assert set(out["by_answer_type"]) == {"other", "yes/no"}
    assert out["accuracy"] == out["rows"][0]["accuracy"] and out["count"] == 12
    assert [r["name"] for r in out["rows"]] == ["run", "run (blind)", 'always "yes"', "prefix prior (train)"]
    # always "yes": 1 of 4 "Is this red?" and 1 of 4 "Is this blue?" right, colour questions 0 -> 2/12
    assert abs(out["rows"][2]["accuracy"] - 2 / 12) < 1e-9


def test_train_cli_bounded_then_resumed(tiny_vqa_root, tmp_path):
    from tests.vqa.conftest import tiny_train_config

    config = tmp_path / "cfg.json"
    cfg = tiny_train_config(tiny_vqa_root, tmp_path / "run", total_steps=8, eval_every=4)
    from dataclasses import asdict

    config.write_text(json.dumps(asdict(cfg)))
    out = _json(runner.invoke(app, ["vqa", "train", "--config", str(config), "--max-steps", "4", "--json"]))
    assert out["step"] == 4
    out = _json(runner.invoke(app, ["vqa", "train", "--config", str(config), "--resume", "--json"]))
    assert out["step"] == 8 and [h["step"] for h in out["history"]] == [4, 8]
