import io

import numpy as np
import pytest
from PIL import Image

from vocabfree.errors import ImageLoadError, ImageTooLargeError, InvalidInputError
from vocabfree.images import expand_paths, load_image, load_images


def test_rgba_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    rgba.putpixel((0, 0), (0, 0, 255, 255))  # one opaque blue pixel
    rgb = load_image(rgba)
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 1)) == (255, 255, 255)
    assert rgb.getpixel((0, 0)) == (0, 0, 255)


def test_grayscale_palette_and_16bit_become_rgb():
    assert load_image(Image.new("L", (3, 3), 128)).getpixel((0, 0)) == (128, 128, 128)
    assert load_image(Image.new("P", (3, 3))).mode == "RGB"
    sixteen = Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16))
    assert load_image(sixteen).getpixel((0, 0)) == (255, 255, 255)  # scaled, not clipped to garbage


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert Image.open(path).size == (60, 20)
    assert load_image(path).size == (20, 60)


def test_corrupt_and_non_image_files_name_the_file(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    with pytest.raises(ImageLoadError, match="notes.jpg"):
        load_image(text)
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good, format="PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.getvalue()[:60])
    with pytest.raises(ImageLoadError, match="truncated.png"):
        load_image(truncated)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_oversized_image_is_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    with pytest.raises(ImageTooLargeError, match="60,000 pixels exceeds the limit of 50,000"):
        load_image(path, max_pixels=50_000)
    assert load_image(path, max_pixels=None).size == (300, 200)


def test_arrays_and_bytes():
    chw = np.zeros((3, 8, 5), dtype=np.uint8)
    assert load_image(chw).size == (5, 8)
    unit_float = np.ones((4, 4, 3), dtype=np.float32)
    assert load_image(unit_float).getpixel((0, 0)) == (255, 255, 255)
    buf = io.BytesIO()
    Image.new("RGB", (7, 3), (9, 9, 9)).save(buf, format="JPEG")
    assert load_image(buf.getvalue()).size == (7, 3)
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(np.zeros((2, 2, 7)))
    with pytest.raises(InvalidInputError):
        load_image(12345)


def test_load_images_skip_errors_reports_what_was_skipped(tmp_path, colour_images):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    items = [colour_images["red"], bad, colour_images["blue"]]
    with pytest.raises(ImageLoadError, match="bad.png"):
        load_images(items)
    images, kept, skipped = load_images(items, skip_errors=True)
    assert kept == [0, 2] and len(images) == 2
    assert [s.source for s in skipped] == [str(bad)]


def test_expand_paths_dirs_globs_and_errors(tmp_path, colour_images):
    sub = tmp_path / "sub"
    sub.mkdir()
    Image.new("RGB", (2, 2)).save(sub / "x.jpg")
    (tmp_path / "readme.txt").write_text("skip me")
    found = expand_paths([tmp_path])
    assert [p.name for p in found] == ["blue.png", "green.png", "red.png", "x.jpg"]
    assert [p.name for p in expand_paths([str(tmp_path / "*.png")])] == ["blue.png", "green.png", "red.png"]
    with pytest.raises(ImageLoadError, match="no such file"):
        expand_paths([tmp_path / "absent.png"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageLoadError, match="contains no images"):
        expand_paths([empty])
