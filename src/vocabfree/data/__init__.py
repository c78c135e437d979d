"""Dataset readers: labelled-image CSVs (``path,label``) and folder-per-class trees."""

from vocabfree.data.labelled import LabelledImages, read_image_folder, read_labelled, read_labelled_csv

__all__ = ["LabelledImages", "read_image_folder", "read_labelled", "read_labelled_csv"]
