"""Dataset readers: labelled-image CSVs (``path,label``), folder-per-class trees and image-caption pair CSVs."""

from vocabfree.data.labelled import LabelledImages, read_image_folder, read_labelled, read_labelled_csv
from vocabfree.data.pairs import PairData, read_pairs

__all__ = ["LabelledImages", "PairData", "read_image_folder", "read_labelled", "read_labelled_csv", "read_pairs"]
