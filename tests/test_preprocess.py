"""to_mnist and open_image on drawings the tests make."""

import io

import numpy as np
import pytest
from conftest import as_canvas, stroke_image
from PIL import Image, ImageDraw

from digitnet import BlankImageError, ImageError, open_image, to_mnist


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(x.shape)
    return float((rows * x).sum() / x.sum()), float((cols * x).sum() / x.sum())


def ink_box(x: np.ndarray) -> tuple[int, int]:
    """Height and width of the ink's bounding box."""
    rows = np.flatnonzero(x.max(axis=1) > 0.1)
    cols = np.flatnonzero(x.max(axis=0) > 0.1)
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_output_is_28x28_float32_in_unit_range():
    x = to_mnist(as_canvas(stroke_image("0")))
    assert x.shape == (28, 28)
    assert x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == pytest.approx(1.0)


@pytest.mark.parametrize("box", [(10, 10, 60, 90), (200, 150, 270, 270), (130, 130, 145, 150), (5, 5, 275, 275)],
                         ids=["top-left", "bottom-right", "tiny", "huge"])
def test_digit_anywhere_and_any_size_is_centred_in_a_20px_box(box):
    x = to_mnist(as_canvas(stroke_image("0", box=box, width=max(3, (box[2] - box[0]) // 6))))
    row, col = centre_of_mass(x)
    assert abs(row - 13.5) < 1.0 and abs(col - 13.5) < 1.0
    assert max(ink_box(x)) in (19, 20, 21)


def test_same_digit_at_two_places_gives_the_same_input():
    a = to_mnist(as_canvas(stroke_image("7", box=(20, 20, 120, 180))))
    b = to_mnist(as_canvas(stroke_image("7", box=(150, 100, 250, 260))))
    np.testing.assert_allclose(a, b, atol=0.05)


def test_a_one_stays_thin():
    x = to_mnist(as_canvas(stroke_image("1", box=(130, 40, 150, 240), width=16)))
    height, width = ink_box(x)
    assert height >= 19
    assert width <= 5


def test_colours_of_canvas_do_not_matter():
    grey = stroke_image("7")
    white_on_black = to_mnist(as_canvas(grey))
    yellow_on_navy = to_mnist(as_canvas(grey, ink=(250, 220, 40), background=(10, 20, 70)))
    np.testing.assert_allclose(white_on_black, yellow_on_navy, atol=0.05)


def test_transparent_layer_reads_like_the_canvas():
    grey = stroke_image("0")
    layer = np.zeros(grey.shape + (4,), dtype=np.uint8)
    layer[..., :3] = (40, 90, 200)
    layer[..., 3] = grey
    np.testing.assert_allclose(to_mnist(layer), to_mnist(as_canvas(grey)), atol=0.05)


def test_dark_ink_on_light_paper_with_uneven_light():
    grey = stroke_image("7").astype(np.float32) / 255
    rows = np.linspace(0, 1, grey.shape[0])[:, None]
    paper = 250 - 70 * rows  # a shadow darkens the bottom of the page
    photo = (paper * (1 - grey) + 30 * grey).astype(np.uint8)
    x_rgb = to_mnist(np.stack([photo] * 3, axis=-1))
    x_grey = to_mnist(Image.fromarray(photo))
    reference = to_mnist(as_canvas(stroke_image("7")))
    np.testing.assert_allclose(x_rgb, reference, atol=0.15)
    np.testing.assert_allclose(x_grey, reference, atol=0.15)


def test_float_arrays_in_unit_range_are_accepted():
    grey = stroke_image("0")
    np.testing.assert_allclose(to_mnist(grey.astype(np.float64) / 255), to_mnist(grey), atol=1e-4)


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_blank_image_is_refused(fill):
    with pytest.raises(BlankImageError):
        to_mnist(as_canvas(np.full((280, 280), 0, np.uint8), background=(fill, fill, fill)))


def test_a_few_stray_pixels_are_refused_as_blank():
    grey = np.zeros((280, 280), np.uint8)
    grey[100, 100] = 255
    with pytest.raises(BlankImageError):
        to_mnist(as_canvas(grey))


@pytest.mark.parametrize("bad", [np.zeros((28, 28, 2)), np.zeros((2, 28, 28, 3)), np.array([]), "a string"])
def test_wrong_shapes_and_types_are_refused(bad):
    with pytest.raises((ImageError, BlankImageError)):
        to_mnist(bad)


def test_nan_is_refused():
    grey = stroke_image("1").astype(np.float32)
    grey[0, 0] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        to_mnist(grey)


def test_open_image_reads_png_bytes_and_rejects_others(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(255 - stroke_image("7")).save(buffer, format="PNG")
    png = buffer.getvalue()
    assert to_mnist(open_image(png)).shape == (28, 28)
    with pytest.raises(ImageError, match="not an image"):
        open_image(b"this is text, not a picture")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        open_image(png[: len(png) // 2])
    with pytest.raises(ImageError, match="Cannot open"):
        open_image(tmp_path / "missing.png")


@pytest.mark.parametrize("radius", [10, 40, 120])
def test_a_dot_or_blob_is_not_a_digit(radius):
    grey = np.zeros((280, 280), np.uint8)
    rows, cols = np.ogrid[:280, :280]
    grey[(rows - 140) ** 2 + (cols - 140) ** 2 <= radius**2] = 255
    with pytest.raises(BlankImageError, match="dot or a blob"):
        to_mnist(as_canvas(grey))


def test_a_bold_digit_is_not_a_blob():
    assert to_mnist(as_canvas(stroke_image("1", box=(120, 40, 160, 240), width=40))).max() > 0
    assert to_mnist(as_canvas(stroke_image("0", box=(60, 30, 220, 250), width=40))).max() > 0


def _png(size: tuple[int, int], mode: str = "RGBA", format: str = "PNG") -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.new(mode, size).save(buffer, format)
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(280, 280), (560, 560), (840, 841), (735, 735)])
def test_a_canvas_png_at_its_size_or_a_screens_pixel_ratio_is_read_at_the_canvas_size(size):
    from digitnet.reading.preprocess import read_canvas_png

    assert read_canvas_png(_png(size), (280, 280)).shape == (280, 280, 4)


def test_a_phones_sharper_drawing_reads_as_the_same_digit():
    from digitnet.reading.preprocess import read_canvas_png

    drawings = []
    for ratio in (1, 3):
        image = Image.new("RGBA", (280 * ratio, 280 * ratio), (0, 0, 0, 255))
        ImageDraw.Draw(image).line([(75 * ratio, 60 * ratio), (205 * ratio, 60 * ratio), (120 * ratio, 235 * ratio)],
                                   fill=(255, 255, 255, 255), width=20 * ratio, joint="curve")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        drawings.append(to_mnist(read_canvas_png(buffer.getvalue(), (280, 280))))
    assert np.abs(drawings[0] - drawings[1]).mean() < 0.02


@pytest.mark.parametrize("digit, box, width, background", [
    ("0", (60, 30, 220, 250), 22, (0, 0, 0)), ("1", (120, 40, 160, 240), 8, (0, 0, 0)),
    ("0", (5, 5, 275, 275), 40, (20, 30, 60)), ("0", (130, 130, 145, 150), 3, (0, 0, 0)),
])
def test_the_canvas_shortcut_finds_exactly_the_ink_the_general_path_finds(digit, box, width, background):
    from digitnet.reading.preprocess import _canvas_ink, _crop_to_ink, ink_map

    canvas = as_canvas(stroke_image(digit, box=box, width=width))
    canvas[(canvas[..., :3] == 0).all(axis=2), :3] = background
    shortcut = _canvas_ink(canvas)
    assert shortcut is not None and shortcut.size < canvas[..., 0].size
    np.testing.assert_allclose(_crop_to_ink(shortcut), _crop_to_ink(ink_map(canvas)), atol=1e-6)


def test_the_canvas_shortcut_leaves_other_images_to_the_general_path():
    from digitnet.reading.preprocess import _canvas_ink

    canvas = as_canvas(stroke_image("0"))
    paper = 255 - canvas[..., :3]
    layer = canvas.copy()
    layer[..., 3] = canvas[..., 0]
    uneven = canvas.copy()
    uneven[0, 0, :3] = 40
    for image in (paper, layer, uneven, canvas.astype(np.float32), canvas[..., 0], canvas[:0], canvas[:, ::2]):
        assert _canvas_ink(image) is None


@pytest.mark.parametrize("png", [_png((13000, 13000), "L"), _png((280, 140)), _png((200, 200)),
                                 _png((280, 280), "RGB", "JPEG"), b"\x89PNG\r\n\x1a\n" + b"\0" * 30, "text"])
def test_anything_else_sent_as_the_canvas_is_refused(png):
    from digitnet.reading.preprocess import read_canvas_png

    with pytest.raises(ImageError):
        read_canvas_png(png, (280, 280))


def _lean(image: np.ndarray) -> float:
    """Pixels sideways per pixel down of the ink's second moments: 0 for an upright digit."""
    rows, cols = np.indices(image.shape)
    ink = image.astype(np.float64)
    mass = ink.sum()
    dy = rows - (rows * ink).sum() / mass
    dx = cols - (cols * ink).sum() / mass
    return float((dx * dy * ink).sum() / (dy * dy * ink).sum())


def test_deskewing_leaves_an_upright_digit_alone():
    from digitnet.reading.preprocess import deskew

    bar = np.zeros((28, 28), dtype=np.uint8)
    bar[4:24, 12:16] = 255
    np.testing.assert_array_equal(deskew(bar), bar)


def test_deskewing_straightens_a_slanted_digit():
    from digitnet.reading.preprocess import deskew

    slanted = np.zeros((28, 28), dtype=np.float32)
    for row in range(4, 24):
        left = 8 + (24 - row) * 0.4  # leans right: the top is further right
        slanted[row, int(left) : int(left) + 4] = 1.0
    assert _lean(slanted) < -0.3
    upright = deskew(slanted)
    assert abs(_lean(upright)) < 0.03
    assert upright.dtype == np.float32 and upright.shape == (28, 28)
    assert upright.sum() == pytest.approx(slanted.sum(), rel=0.02)  # moved, not lost
    both = deskew(np.stack([slanted, slanted[:, ::-1]]))
    assert abs(_lean(both[1])) < 0.03


def test_a_slanted_drawing_is_read_upright():
    from digitnet.data.render import PAGE_HAND, render_canvas

    stroke = np.array([[150, 400], [250, 100]], dtype=np.float32)  # a 1 leaning right, tablet y up
    canvas = render_canvas((stroke,), np.random.default_rng(0), PAGE_HAND)
    assert abs(_lean(to_mnist(canvas))) < 0.05


def test_upright_straightens_a_leaning_digit_and_leaves_an_upright_one_exactly_as_it_is():
    from digitnet.reading.preprocess import UPRIGHT_SLANT, deskew, slants, upright

    leaning = np.zeros((28, 28), np.float32)
    for row in range(4, 24):  # a 1 leaning right by half a pixel per row
        leaning[row, 14 + (14 - row) // 2 : 16 + (14 - row) // 2] = 1.0
    assert abs(slants(leaning[None])[0]) > UPRIGHT_SLANT
    straightened = upright(leaning)
    np.testing.assert_array_equal(straightened, deskew(leaning))
    assert abs(slants(straightened[None])[0]) < UPRIGHT_SLANT
    np.testing.assert_array_equal(upright(straightened), straightened)  # read as it is, not sheared again
    batch = np.stack([leaning, straightened])
    np.testing.assert_array_equal(upright(batch), np.stack([straightened, straightened]))
