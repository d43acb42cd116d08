"""Turning what a person draws or uploads into a 28x28 image that looks like MNIST."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from digitnet.errors import BlankImageError, CanvasError, EmptyImageError, ImageError

# MNIST's recipe: the digit is scaled to fit a 20x20 box, then its centre of mass is put at the
# centre of the 28x28 field.
FIELD = 28
BOX = 20
# Larger inputs are shrunk first: finer detail cannot survive the trip to 20x20 anyway.
WORKING_SIZE = 512
# Strokes are measured and made MNIST-like at this many times the 20x20 box: fine enough to
# thicken or thin them a pixel at a time, small enough to be fast.
STROKE_SCALE = 4
# Most MNIST training digits' strokes are this wide, in pixels at STROKE_SCALE (the median is
# 10.7, about 2.7 px in the 28x28 field); wider or thinner strokes are brought to the nearest end.
MNIST_STROKE_RANGE = (8.0, 14.0)
MAX_STROKE_STEPS = 4
# People slant their digits every way; the network reads them upright (as in LeCun et al.'s deskewed
# MNIST): each row of ink is shifted sideways until the digit leans neither way. A shear beyond this
# (pixels sideways per pixel down) is the digit's shape, not its slant.
MAX_SLANT = 0.6
# A digit leaning less than this (pixels sideways per pixel down) is upright already: `upright` leaves
# it exactly as it is. Once deskewed, a digit leans less than 1e-6 unless its slant was beyond MAX_SLANT.
UPRIGHT_SLANT = 0.05
DESKEW_BATCH = 1000  # images deskewed at once
# The formats an upload is read as. Others are never tried: Pillow hands EPS to Ghostscript, for one.
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
# Refuse to decode images with more pixels than this (a 10000x10000 image, a decompression bomb).
MAX_PIXELS = 40_000_000
# A drawing sent by the page's canvas is a PNG of the canvas, at most this many times its size in each
# direction (a screen's pixel ratio), and of at most this many bytes: anything else is refused unread.
MAX_CANVAS_SCALE = 4
MAX_CANVAS_BYTES = 2_000_000
# Ink weaker than this fraction of the strongest is noise: on paper, its texture and shadows; on
# a screen, only the faintest anti-aliasing.
PAPER_NOISE_FLOOR = 0.25
SCREEN_NOISE_FLOOR = 0.05
# An image whose strongest ink differs from the background by less than this (0..1) is blank.
MIN_CONTRAST = 0.08
# Ink whose strokes are wider than this fraction of its height and of its width is a dot or a blob:
# a disc's "stroke" is half its diameter, the boldest digit's about a fifth of its height.
MAX_BLOB_WIDTH = 0.35
# Fewer ink pixels than this fraction of the image is a stray mark, not a digit.
MIN_INK_FRACTION = 0.0005
# What a drawing that is not a digit is told, here and by the browser's engine (web.py passes these on).
BLANK = "The image is blank: draw or upload a digit"
NO_INK = "There is almost no ink: draw a bigger digit"
BLOB = "That looks like a dot or a blob, not a digit: draw a digit from 0 to 9"


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """Min-max scale uint8 pixels 0..255 to float32 0..1, as in training and prediction."""
    return x.astype(np.float32) / np.float32(255.0)


def to_mnist(image: np.ndarray | Image.Image) -> np.ndarray:
    """Return the (28, 28) float32 image in [0, 1], white digit on black, that MNIST would hold.

    Accepts a canvas RGBA array (opaque background of any colour, contrasting ink), an RGBA layer
    with a transparent background, or an RGB/greyscale array or PIL image of dark ink on light
    paper. Raises BlankImageError when there is no digit to read, ImageError when the input is
    not an image. A 28x28 greyscale image on a dark background is already in MNIST's form (an MNIST
    digit, say) and is read as it is: cropping and re-centring it again would only change it.
    """
    field = _in_mnist_form(image)
    if field is not None:
        return field
    ink = _canvas_ink(image)
    if ink is None:
        ink = ink_map(image)
    ink = _resize_long_side(_crop_to_ink(ink), STROKE_SCALE * BOX)
    width = stroke_width(ink)
    if width > MAX_BLOB_WIDTH * max(ink.shape):
        raise BlankImageError(BLOB)
    ink = _normalise_stroke(ink, width)
    # Straightened at the box's size: as good as at the strokes' and a third of the time.
    upright = _crop_to_ink(deskew(_pad_sideways(_fit_in_box(ink))))
    return _centre_by_mass(_fit_in_box(upright))


def _in_mnist_form(image: np.ndarray | Image.Image) -> np.ndarray | None:
    """The image in [0, 1] if it is a 28x28 greyscale array with a dark background and some ink, else None."""
    if not isinstance(image, np.ndarray) or image.shape != (FIELD, FIELD):
        return None
    pixels = _to_unit_range(image)
    dark_background = float(np.median(_border(pixels[..., None]))) < 0.5
    return deskew(pixels) if dark_background and float(pixels.max()) >= MIN_CONTRAST else None


def ink_map(image: np.ndarray | Image.Image) -> np.ndarray:
    """Return a float32 map in [0, 1] of how much ink each pixel holds, 1 for the strongest ink."""
    pixels = _as_float_pixels(image)
    noise_floor = SCREEN_NOISE_FLOOR
    if pixels.shape[2] == 4 and pixels[..., 3].min() < 0.99:
        # A layer with a transparent background: the ink is whatever is opaque.
        ink = pixels[..., 3]
    else:
        rgb = pixels[..., :3]
        background = np.median(_border(rgb), axis=0)
        if _luminance(background) >= 0.5:
            ink = _dark_ink_on_paper(_luminance(rgb))
            noise_floor = PAPER_NOISE_FLOOR
        else:
            ink = _colour_distance(rgb, background)
    return _scaled_ink(ink, noise_floor, ink.size)


def _canvas_ink(image: object) -> np.ndarray | None:
    """ink_map's ink of a drawing on the page's canvas (an opaque RGBA uint8 array on a uniform dark
    background), cropped to where the drawing differs from its background; None for any other image.

    The same ink as ink_map's, cropped: each pixel is compared as one 32-bit number, and only the
    drawing's box becomes floats (a phone's stroke spent half its server time in ink_map, bench.room).
    """
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 4 and image.flags.c_contiguous and 0 < min(image.shape[:2])
            and max(image.shape[:2]) <= WORKING_SIZE):
        return None
    packed = image.view(np.uint32)[..., 0]  # a pixel's R, G, B and A in one number
    colour = packed[0, 0]
    if (_border(packed[..., None]) != colour).any() or (image[0, 0, 3] < 255):
        return None
    if _luminance(image[0, 0, :3].astype(np.float32) / 255.0) >= 0.5:  # as _to_unit_range scales it
        return None
    drawn = packed != colour
    rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
    if not rows.size:
        raise EmptyImageError(BLANK)
    box = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if box[..., 3].min() < 255:  # see-through ink: ink_map reads such a layer by its opacity
        return None
    # _colour_distance on whole numbers, one channel at a time: a third of the time of floats over a
    # trailing axis of three (numpy is slow there).
    squared = np.zeros(box.shape[:2], dtype=np.int32)
    for channel in range(3):
        difference = box[..., channel].astype(np.int32) - int(image[0, 0, channel])
        difference *= difference
        squared += difference
    ink = np.sqrt(squared.astype(np.float32) * np.float32(1.0 / (3 * 255 * 255)))
    return _scaled_ink(ink, SCREEN_NOISE_FLOOR, drawn.size)


def _scaled_ink(ink: np.ndarray, noise_floor: float, pixels: int) -> np.ndarray:
    """`ink` (float32) scaled so its strongest is 1, noise below `noise_floor` dropped; raises when an
    image of `pixels` pixels holds none or almost none."""
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise EmptyImageError(BLANK)
    ink = ink.astype(np.float32, copy=False) * np.float32(1.0 / (strongest * (1.0 - noise_floor)))
    ink -= np.float32(noise_floor / (1.0 - noise_floor))
    np.clip(ink, 0.0, 1.0, out=ink)
    if np.count_nonzero(ink > 0.5) < max(2, MIN_INK_FRACTION * pixels):
        raise BlankImageError(NO_INK)
    return ink


def open_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Open an image file or its bytes for to_mnist, upright, refusing what is not a usable image."""
    name = "the upload" if isinstance(source, bytes) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else open(Path(source), "rb")
    except OSError as exc:
        raise ImageError(f"Cannot open {name}: {exc.strerror}") from exc
    with stream:
        try:
            with Image.open(stream, formats=UPLOAD_FORMATS) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"{name} is too large: {width}x{height} pixels "
                        f"(at most {MAX_PIXELS // 1_000_000} million)"
                    )
                image.seek(0)  # the first frame of an animation
                image.load()
                return ImageOps.exif_transpose(image)
        except Image.DecompressionBombError as exc:
            raise ImageError(f"{name} is too large to decode safely: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise ImageError(f"{name} is not an image (PNG, JPEG, ...)") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"{name} is corrupt or truncated: {exc}") from exc


def read_canvas_png(png: bytes, canvas_size: tuple[int, int]) -> np.ndarray:
    """The drawing a canvas of `canvas_size` (width, height) sent as PNG, as an RGBA array of that size.

    What a browser sends can be forged: its size is checked from the PNG's header, before a pixel is
    decoded, so a tiny file claiming 13000x13000 pixels costs nothing. CanvasError when it is not a
    drawing of that canvas.
    """
    if not isinstance(png, bytes) or len(png) > MAX_CANVAS_BYTES:
        raise CanvasError("The drawing sent is not a PNG of a sensible size")
    width, height = canvas_size
    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
            sent_width, sent_height = image.size
            scale = sent_width / width
            if not (1 <= scale <= MAX_CANVAS_SCALE and abs(sent_height - height * scale) <= scale):
                raise CanvasError(f"The drawing sent is {sent_width}x{sent_height} pixels, not the "
                                  f"canvas' {width}x{height}")
            image = image.convert("RGBA")
            if scale > 1:
                # A drawing at a screen's pixel ratio (2 or 3 pixels per canvas pixel; the canvas
                # component 0.13 sends its own size on any screen) is read at the canvas' size, which
                # the 20x20 box never tells apart: a 3x drawing costs 15 ms, not 50.
                image = image.resize((width, height), Image.Resampling.BOX, reducing_gap=1.0)
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CanvasError(f"The drawing sent is not a readable PNG: {exc}") from exc


def _as_float_pixels(image: np.ndarray | Image.Image) -> np.ndarray:
    """Return the image as an (H, W, 3 or 4) float32 array in [0, 1], shrunk to WORKING_SIZE."""
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    if not isinstance(image, np.ndarray):
        raise ImageError(f"Expected a numpy array or PIL image, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ImageError(f"Expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise EmptyImageError("The image is empty (zero pixels)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ImageError(f"The image is too large: {image.shape[1]}x{image.shape[0]} pixels")
    pixels = _to_unit_range(image)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return _shrink(pixels)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if max(image.size) > WORKING_SIZE:
        # Shrunk while still 8 or 16 bits a channel: a 6000x6000 photo as float32 took 1.5 GB.
        image = _shrunk_image(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit greyscale: scale to 8 bits by its own range, not by truncation.
        return np.asarray(image, dtype=np.float32) / 65535.0
    return np.asarray(image.convert("RGBA" if _has_alpha(image) else "RGB"))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _shrunk_image(image: Image.Image, side: int = WORKING_SIZE) -> Image.Image:
    """A copy of `image` whose longer side is `side`, in a mode PIL can resize (16-bit grey as 32-bit)."""
    if image.mode in ("I;16", "I;16B", "I;16L"):
        image = image.convert("I")
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def preview_image(image: Image.Image, side: int = 560) -> Image.Image:
    """An opened upload as an 8-bit picture to show beside its answer, its longer side at most `side`."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        pixels = np.asarray(image.convert("F") if image.mode != "F" else image, dtype=np.float32)
        top = float(pixels.max()) or 1.0
        image = Image.fromarray((np.clip(pixels / top, 0, 1) * 255).astype(np.uint8), "L")
    elif image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if max(image.size) > side:
        image = _shrunk_image(image, side)
    return image


def _to_unit_range(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        raise ImageError(f"Expected numeric pixels, got dtype {image.dtype}")
    pixels = image.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise ImageError("The image holds NaN or infinite values")
    if pixels.min() < 0 or pixels.max() > 255:
        raise ImageError(f"Pixel values must be in 0..1 or 0..255, found {pixels.min()}..{pixels.max()}")
    # Floats up to 1 are already in [0, 1]; anything larger is on the 0..255 scale.
    return pixels if pixels.max() <= 1.0 else pixels / 255.0


def _shrink(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = WORKING_SIZE / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    channels = [_resize(pixels[..., c], size) for c in range(pixels.shape[2])]
    return np.stack(channels, axis=-1)


def _resize(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one float channel to size=(width, height) with anti-aliasing."""
    return np.asarray(Image.fromarray(channel, mode="F").resize(size, Image.Resampling.LANCZOS))


def _border(rgb: np.ndarray) -> np.ndarray:
    """The pixels of the image's outermost frame, as an (n, 3) array."""
    return np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])


def _colour_distance(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Euclidean distance of each pixel from `colour`, scaled so black to white is 1."""
    # Channel by channel: numpy reduces a trailing axis of 3 several times slower.
    squared = sum((rgb[..., c] - colour[c]) ** 2 for c in range(3))
    return np.sqrt(squared / 3.0)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _dark_ink_on_paper(grey: np.ndarray) -> np.ndarray:
    """Ink of dark strokes on light paper, measured against the paper's local brightness.

    The paper's brightness is the brightest pixel of each coarse block (thin strokes vanish in
    the maximum), smoothed back to full size, so a shadow across a photo is not taken for ink.
    """
    height, width = grey.shape
    block = max(1, min(height, width) // 4)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(grey, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    coarse = padded.reshape(rows, block, cols, block).max(axis=(1, 3))
    paper = _resize(coarse.astype(np.float32), (width, height))
    return np.clip(paper - grey, 0.0, None) / np.maximum(paper, 0.1)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > 0)
    cols = np.flatnonzero(ink.max(axis=0) > 0)
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize_long_side(ink: np.ndarray, side: int) -> np.ndarray:
    height, width = ink.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.clip(_resize(ink, size), 0.0, 1.0)


def stroke_width(ink: np.ndarray) -> float:
    """The mean width of the strokes, in pixels: twice the inked area over its outline's length."""
    mask = _framed(ink > 0.5, 1, 1)  # a blank frame, so ink touching the edge has an outline there too
    interior = mask.copy()
    interior[1:] &= mask[:-1]
    interior[:-1] &= mask[1:]
    interior[:, 1:] &= mask[:, :-1]
    interior[:, :-1] &= mask[:, 1:]
    outline = np.count_nonzero(mask) - np.count_nonzero(interior)
    return 2 * np.count_nonzero(mask) / max(outline, 1)


def _normalise_stroke(ink: np.ndarray, width: float) -> np.ndarray:
    """Bring strokes bolder or thinner than most of MNIST's back into MNIST's usual range.

    A brush of fixed size makes a small digit bold and a large one thin; each 3x3 max (or min)
    filter step widens (or narrows) the strokes by 2 pixels.
    """
    steps = round((min(max(width, MNIST_STROKE_RANGE[0]), MNIST_STROKE_RANGE[1]) - width) / 2)
    if steps == 0:
        return ink
    pen = ImageFilter.MaxFilter(3) if steps > 0 else ImageFilter.MinFilter(3)
    image = Image.fromarray(ink, mode="F")
    for _ in range(min(abs(steps), MAX_STROKE_STEPS)):
        image = image.filter(pen)
    return np.asarray(image)


def _fit_in_box(ink: np.ndarray) -> np.ndarray:
    """Scale the cropped ink so its longer side is BOX pixels, keeping its aspect ratio."""
    digit = _resize_long_side(ink, BOX)
    return digit / max(float(digit.max()), 1e-6)


def deskew(images: np.ndarray) -> np.ndarray:
    """Undo each image's slant: shift its rows sideways, about its centre of mass, until its ink's
    x-y second moment is zero. One (h, w) image or a stack of them, white on black, uint8 or float;
    the same shape and type back."""
    images = np.asarray(images)
    stack = images.reshape(-1, *images.shape[-2:])
    if len(stack) > DESKEW_BATCH:  # a few MB of working arrays at a time, not a few hundred
        parts = [deskew(stack[i : i + DESKEW_BATCH]) for i in range(0, len(stack), DESKEW_BATCH)]
        return np.concatenate(parts).reshape(images.shape)
    stack = stack.astype(np.float32)
    upright = _sheared(stack, np.clip(slants(stack), -MAX_SLANT, MAX_SLANT)).reshape(images.shape)
    if images.dtype == np.uint8:
        return np.clip(np.rint(upright), 0, 255).astype(np.uint8)
    return upright.astype(images.dtype, copy=False)


def upright(images: np.ndarray) -> np.ndarray:
    """`deskew` for the images that lean at least UPRIGHT_SLANT; those that do not, unchanged: a digit
    to_mnist made, or one deskewed before, is read as it is, and a raw MNIST digit is made upright."""
    images = np.asarray(images)
    stack = images.reshape(-1, *images.shape[-2:])
    leaning = np.abs(slants(stack.astype(np.float32))) >= UPRIGHT_SLANT
    if not leaning.any():
        return images
    out = stack.copy()
    out[leaning] = deskew(stack[leaning])
    return out.reshape(images.shape)


def slants(stack: np.ndarray) -> np.ndarray:
    """How far each (h, w) image of the stack leans: pixels sideways per pixel down, from its ink's
    second moments (positive: the top leans right)."""
    _, height, width = stack.shape
    rows, cols = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    row_mass = stack.sum(axis=2)
    mass = np.maximum(row_mass.sum(axis=1), 1e-6)
    below = rows - (row_mass @ rows / mass)[:, None]  # (n, h): each row's distance down from the centre
    right = cols - (stack.sum(axis=1) @ cols / mass)[:, None]  # (n, w)
    spread = (row_mass * below**2).sum(axis=1)
    lean = ((stack @ right[:, :, None])[..., 0] * below).sum(axis=1)
    return lean / np.maximum(spread, 1e-6)


def _sheared(stack: np.ndarray, slant: np.ndarray) -> np.ndarray:
    """Each image's rows moved `slant * (distance below its centre of mass)` pixels to the side."""
    _, height, width = stack.shape
    rows, cols = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    row_mass = stack.sum(axis=2)
    below = rows - (row_mass @ rows / np.maximum(row_mass.sum(axis=1), 1e-6))[:, None]
    # Each output pixel reads its own row `slant * below` pixels to the side, between two pixels;
    # a black column on either side stands for everything beyond the image.
    source = cols + slant[:, None, None] * below[:, :, None]  # (n, h, w)
    before = np.floor(source)
    weight = source - before
    before = before.astype(np.int64) + 1  # in the framed rows
    framed = _framed(stack, 0, 1)
    sheared = np.take_along_axis(framed, np.clip(before, 0, width + 1), axis=2) * (1 - weight)
    return sheared + np.take_along_axis(framed, np.clip(before + 1, 0, width + 1), axis=2) * weight


def _pad_sideways(ink: np.ndarray) -> np.ndarray:
    """Room on both sides for the most slanted digit's rows to move into."""
    margin = int(np.ceil(MAX_SLANT * ink.shape[0] / 2)) + 1
    return _framed(ink, 0, margin)


def _framed(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The image (or each of a stack) in a frame of zeros `rows` deep above and below and `cols` wide on
    either side: np.pad's result, without its 40 us of Python on every call of a drawing's reading."""
    height, width = images.shape[-2:]
    framed = np.zeros((*images.shape[:-2], height + 2 * rows, width + 2 * cols), dtype=images.dtype)
    framed[..., rows : rows + height, cols : cols + width] = images
    return framed


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place the digit in the 28x28 field with its centre of mass at the centre."""
    height, width = digit.shape
    total = digit.sum()
    centre_row = (digit.sum(axis=1) @ np.arange(height)) / total
    centre_col = (digit.sum(axis=0) @ np.arange(width)) / total
    top = min(max(round(FIELD / 2 - 0.5 - centre_row), 0), FIELD - height)
    left = min(max(round(FIELD / 2 - 0.5 - centre_col), 0), FIELD - width)
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field
