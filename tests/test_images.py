import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vocabfree.errors import ImageLoadError, ImageTooLargeError, InvalidInputError
from vocabfree.images import expand_paths, iter_image_batches, load_image, load_images


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
    with pytest.raises(InvalidInputError, match=r"^unsupported image input of type int: <int>$"):
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


# --- malformed files: every decoder failure, whatever Pillow raises, becomes ImageLoadError naming the file ---


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(chunks: list[bytes], ihdr: bytes | None = None) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0) if ihdr is None else ihdr
    pixels = zlib.compress(b"".join(b"\x00" + b"\x00" * 12 for _ in range(4)))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + b"".join(chunks)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def _tiff(width: int, height: int) -> bytes:
    import struct

    tags = [(256, width), (257, height), (258, 8), (259, 1), (262, 1), (273, 200), (277, 1), (278, height), (279, 16)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in tags)
    data = b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00"
    return data + b"\x00" * (216 - len(data))


def malformed_corpus(folder: Path) -> dict[Path, type]:
    """Write files on which Pillow (13) raises something other than ``OSError``; returns path -> what it raises.

    (SPIDER, IM and XBM headers we tried are rejected by Pillow's ``open`` as ``UnidentifiedImageError``, an
    ``OSError``; they are not here because they test nothing new.)
    """
    import struct
    import zlib

    from PIL import PngImagePlugin

    bomb = zlib.compress(b"a" * (PngImagePlugin.MAX_TEXT_CHUNK + 10))
    dds_header = struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\x00" * 44 + struct.pack("<2I", 32, 0x4)
    files = {
        "ztxt_bomb.png": (_png([_png_chunk(b"zTXt", b"k\x00\x00" + bomb)]), ValueError),
        "iccp_bomb.png": (_png([_png_chunk(b"iCCP", b"p\x00\x00" + bomb)]), ValueError),
        "truncated_ihdr.png": (_png([], ihdr=b"\x00\x00\x00\x04"), ValueError),
        "huge_dimensions.tif": (_tiff(2**31 - 1, 2**31 - 1), Image.DecompressionBombError),
        "maxval_zero.ppm": (b"P6\n4 4\n0\n" + b"\x00" * 48, ValueError),
        "bad_token.pgm": (b"P2\n2 2\n255\n1 2 3 x\n", ValueError),
        "bad_token.pbm": (b"P1\n2 2\n0 1 2 0\n", ValueError),
        "bad_mode.sgi": (struct.pack(">hbbHHHH", 474, 0, 1, 3, 0, 0, 0) + b"\x00" * 600, ValueError),
        "fourcc.dds": (b"DDS " + dds_header + b"ABCD" + b"\x00" * 108, NotImplementedError),
    }
    out = {}
    for name, (data, raises) in files.items():
        (folder / name).write_bytes(data)
        out[folder / name] = raises
    return out


def test_malformed_corpus_really_escapes_oserror(tmp_path):
    """The corpus is only worth testing if raw Pillow raises non-OSError exceptions on it."""
    for path, raises in malformed_corpus(tmp_path).items():
        with pytest.raises(Exception) as info, Image.open(path) as image:  # noqa: PT011 - which type is the point
            image.load()
        assert isinstance(info.value, raises) and not isinstance(info.value, OSError), (path.name, info.value)


def test_every_malformed_file_becomes_image_load_error_naming_it(tmp_path):
    corpus = malformed_corpus(tmp_path)
    for path in corpus:
        with pytest.raises(ImageLoadError, match=re.escape(str(path))):
            load_image(path)
        with pytest.raises(ImageLoadError, match=re.escape(str(path))):
            load_image(path, min_side=64)  # the reduced-size decode path
        with pytest.raises(ImageLoadError, match="bytes>"):
            load_image(path.read_bytes())  # uploads: named by their size
    images, kept, skipped = load_images([*corpus, tmp_path / "ztxt_bomb.png"], skip_errors=True)
    assert images == [] and kept == [] and [s.index for s in skipped] == list(range(len(corpus) + 1))


def test_iter_image_batches_keeps_input_positions(tmp_path, colour_images):
    corpus = list(malformed_corpus(tmp_path))[:2]
    items = [colour_images["red"], corpus[0], colour_images["green"], colour_images["blue"], corpus[1]]
    batches = list(iter_image_batches(items, batch_size=2, skip_errors=True))
    assert [b.indices for b in batches] == [[0], [2, 3], []]
    assert [[s.index for s in b.skipped] for b in batches] == [[1], [], [4]]
    assert all(s.source in s.reason for b in batches for s in b.skipped)
    with pytest.raises(ImageLoadError, match="ztxt_bomb"):
        list(iter_image_batches(items, batch_size=2))
