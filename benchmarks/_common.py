"""Shared helpers of the local-model benchmarks: dataset paths and cached feature extraction."""

from __future__ import annotations

import csv
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "artifacts" / "features"
DATASETS = {"caltech101": DATA / "caltech101", "flowers102": DATA / "flowers102"}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), to print beside every speed figure."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_split(dataset: str, split: str) -> tuple[list[str], list[str]]:
    """(absolute paths, labels) of ``<dataset>/<split>.csv`` (columns path,label; paths relative to the CSV)."""
    folder = DATASETS[dataset]
    with open(folder / f"{split}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [str(folder / r["path"]) for r in rows], [r["label"] for r in rows]


def caption_pairs(split: str) -> tuple[list[str], list[str]]:
    """(absolute paths, captions) of one split of caption_pairs/captions.csv."""
    folder = DATA / "caption_pairs"
    with open(folder / "captions.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == split]
    return [str(folder / r["path"]) for r in rows], [r["caption"] for r in rows]
