"""The browser's engine against digitnet's, in real Chromium, on one corpus of canvases: the same
28x28 inputs, the same answers, the same words for what is not a digit."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from conftest import as_canvas, stroke_image
from PIL import Image, ImageDraw

import digitnet
from digitnet.data.drawn import draw_like_a_person
from digitnet.data.pendigits import load_pen_collections
from digitnet.data.render import render_canvas
from digitnet.reading import web
from digitnet.reading.preprocess import upright

PEN_DIGITS = 1500  # pen digits of many writers, drawn as the canvas draws them
MNIST_REDRAWN = 500
BATCH = 100  # canvases sent to the page at once


def png(rgba: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def shapes() -> list[np.ndarray]:
    """The test toolkit's strokes at several sizes and widths, and the drawings that are not digits:
    a blank canvas, a dot, a blob, a tiny mark, and digits so big they run off the canvas."""
    canvases = [as_canvas(stroke_image(kind, box=box, width=width)) for kind in "107"
                for box in ((100, 60, 180, 220), (20, 20, 260, 260), (120, 120, 160, 170), (0, 30, 200, 280))
                for width in (6, 18, 40)]
    refused = [Image.new("L", (280, 280), 0) for _ in range(5)]
    ImageDraw.Draw(refused[1]).ellipse((130, 130, 150, 150), fill=255)  # a dot
    ImageDraw.Draw(refused[2]).ellipse((40, 40, 240, 240), fill=255)  # a blob
    ImageDraw.Draw(refused[3]).point((140, 140), fill=255)  # a stray mark
    ImageDraw.Draw(refused[4]).line((-20, 140, 300, 150), fill=255, width=30)  # a bar across it all
    return canvases + [as_canvas(np.asarray(image)) for image in refused]


@pytest.fixture(scope="module")
def corpus(mnist_path) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    pens = load_pen_collections()
    drawn = []
    for pen in pens:
        for i in rng.choice(len(pen), PEN_DIGITS // len(pens), replace=False):
            drawn.append(render_canvas(pen.strokes[i], rng))
    mnist = digitnet.load_mnist(mnist_path)
    drawn += [draw_like_a_person(digit, "canvas", rng) for digit in mnist.x_test[:MNIST_REDRAWN]]
    return drawn + shapes()


@pytest.fixture(scope="module")
def model(mnist_path):
    classifier = digitnet.load_classifier()
    calibration = upright(digitnet.load_mnist(mnist_path).x_train[: web.CALIBRATION_IMAGES] / np.float32(255))
    return classifier, web.browser_weights(classifier, calibration)


@pytest.fixture(scope="module")
def engine_page(browser, model):
    """A blank page holding the engine, its constants from Python and the model's browser file."""
    page = browser.new_page()
    page.add_script_tag(content=web.engine_code())
    page.evaluate("""([constants, weights]) => {
        const bytes = Uint8Array.from(atob(weights), c => c.charCodeAt(0));
        window.engine = digitnetEngine.createEngine(constants);
        window.weights = engine.loadWeights(bytes.buffer);
    }""", [web.engine_constants(), base64.b64encode(model[1]).decode()])
    yield page
    page.close()


def browser_readings(page, canvases: list[np.ndarray]) -> list[dict]:
    """Each canvas read by the browser's engine from its pixels, as the page reads its own canvas."""
    readings = []
    for start in range(0, len(canvases), BATCH):
        readings += page.evaluate("""async (pngs) => {
            const out = [];
            for (const data of pngs) {
                const blob = await (await fetch("data:image/png;base64," + data)).blob();
                const bitmap = await createImageBitmap(blob, {premultiplyAlpha: "none", colorSpaceConversion: "none"});
                const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
                const context = canvas.getContext("2d");
                context.drawImage(bitmap, 0, 0);
                const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
                const reading = engine.read(weights, pixels, bitmap.width, bitmap.height);
                out.push(reading === null || reading.refused ? reading
                         : {x: Array.from(reading.x), probabilities: reading.probabilities});
            }
            return out;
        }""", [png(canvas) for canvas in canvases[start : start + BATCH]])
    return readings


def server_reading(canvas: np.ndarray, classifier) -> dict:
    try:
        x = digitnet.to_mnist(canvas)
    except (digitnet.EmptyImageError, digitnet.BlankImageError) as exc:
        return {"refused": "empty" if isinstance(exc, digitnet.EmptyImageError) else "blank", "message": str(exc)}
    return {"x": x.ravel(), "probabilities": classifier.predict_proba(x)}


def test_the_browser_engine_reads_every_canvas_as_the_server_does(engine_page, corpus, model):
    classifier = model[0]
    browser = browser_readings(engine_page, corpus)
    server = [server_reading(canvas, classifier) for canvas in corpus]
    assert len(corpus) >= 2000 and None not in browser
    refused = [(b, s) for b, s in zip(browser, server) if "refused" in b or "refused" in s]
    assert all(b == s for b, s in refused), [pair for pair in refused if pair[0] != pair[1]]
    assert len(refused) >= 4  # the blank canvas, the dot, the blob and the stray mark at least
    read = [(b, s) for b, s in zip(browser, server) if "refused" not in b and "refused" not in s]
    inputs = np.array([np.abs(np.array(b["x"]) - s["x"]).mean() for b, s in read]) * 255
    differences = np.array([np.abs(np.array(b["probabilities"]) - s["probabilities"]).max() for b, s in read])
    same_digit = np.mean([np.argmax(b["probabilities"]) == np.argmax(s["probabilities"]) for b, s in read])
    summary = {"canvases": len(corpus), "read": len(read), "same digit": same_digit,
               "input mean |diff| x255": inputs.mean(), "probability max": differences.max(),
               "probability median": np.median(differences)}
    print(json.dumps({k: float(v) for k, v in summary.items()}))
    assert same_digit >= 0.998, summary
    assert inputs.mean() <= 2, summary
    assert differences.max() <= 0.01 and np.median(differences) <= 0.001, summary


def test_a_change_to_one_engine_alone_is_caught(engine_page, corpus, model):
    """The test above can fail: the browser told a stroke width range other than the server's reads
    the bold and thin drawings differently."""
    constants = {**web.engine_constants(), "MNIST_STROKE_RANGE": [4.0, 20.0]}
    engine_page.evaluate("c => { window.engine = digitnetEngine.createEngine(c); }", constants)
    try:
        canvases = corpus[-len(shapes()):]
        browser = browser_readings(engine_page, canvases)
        server = [server_reading(canvas, model[0]) for canvas in canvases]
        apart = [np.abs(np.array(b["x"]) - s["x"]).mean() * 255 for b, s in zip(browser, server)
                 if "refused" not in b and "refused" not in s]
        assert max(apart) > 2
    finally:
        engine_page.evaluate("c => { window.engine = digitnetEngine.createEngine(c); }", web.engine_constants())


def test_the_browser_file_is_small_and_holds_the_network_it_names(model):
    classifier, data = model
    assert len(data) <= 150_000
    held = web.load_browser_weights(data)
    assert [layer.kernel.shape for layer in held.dense] == [layer.kernel.shape for layer in classifier.dense]
    assert json.loads(data[8 : 8 + int.from_bytes(data[4:8], "little")])["fingerprint"] == classifier.fingerprint
    with pytest.raises(digitnet.ModelFileError):
        web.load_browser_weights(b"PK\x03\x04 not weights")


def test_rounding_steered_by_the_inputs_moves_the_answers_less_than_rounding_each_weight(model, corpus):
    classifier, steered = model
    x = np.array([digitnet.to_mnist(canvas) for canvas in corpus[:PEN_DIGITS]])
    exact = classifier.predict_proba(x)
    moved = {name: np.abs(web.load_browser_weights(data).predict_proba(x) - exact).max()
             for name, data in (("steered", steered), ("nearest", web.browser_weights(classifier)))}
    assert moved["steered"] < moved["nearest"] / 2, moved


def test_the_browser_says_each_answer_in_the_server_s_words(engine_page, corpus, model):
    from digitnet.reading.prediction import Prediction

    probabilities = [model[0].predict_proba(digitnet.to_mnist(canvas)) for canvas in corpus[:300]]
    probabilities += [np.array([0.5, 0.3, 0.2, 0, 0, 0, 0, 0, 0, 0]), np.eye(10)[8]]
    said = engine_page.evaluate("ps => ps.map(p => engine.sentence(p))", [p.tolist() for p in probabilities])
    assert said == [Prediction(p).sentence() for p in probabilities]
    assert any("not sure" in words for words in said) and any("an 8" in words for words in said)
