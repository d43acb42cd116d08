"""Take it home: each exported form read back in its own runtime, with nothing of digitnet, gives what
predict_proba gives; the offline page reads a drawn 7 with the network off."""

import subprocess
import sys

import numpy as np
import pytest
from waiting import TIMEOUT_S

import digitnet
from conftest import ROOT
from digitnet.data.pendigits import load_pen_collections
from digitnet.data.render import render_canvas
from digitnet.export import ExportError, card_path, export
from digitnet.reading.preprocess import upright
from digitnet.state.history import history_path, load_record
from digitnet.config import SHIPPED_MODEL

# In a fresh interpreter that cannot import digitnet (-I: no working folder, no PYTHONPATH): the card's
# own `upright`, then the runtime.
RUNTIME = """
import sys, re, numpy as np
form, model, card, inputs, out = sys.argv[1:]
try:
    import digitnet
    sys.exit("digitnet is importable")
except ImportError:
    pass
code = re.search(r"```python\\n(.*?)```", open(card).read(), re.S).group(1)
names = {}
exec(code, names)
x = np.stack([names["upright"](image) for image in np.load(inputs)]).astype(np.float32)
if form == "keras":
    import keras
    p = keras.saving.load_model(model).predict(x, verbose=0)
elif form == "onnx":
    import onnxruntime
    p = onnxruntime.InferenceSession(model).run(None, {"image": x})[0]
else:
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=model)
    interpreter.allocate_tensors()
    given, taken = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    p = []
    for image in x:
        interpreter.set_tensor(given, image[None])
        interpreter.invoke()
        p.append(interpreter.get_tensor(taken)[0])
np.save(out, np.array(p))
"""


@pytest.fixture(scope="module")
def inputs(mnist_path):
    """500 MNIST test digits and 500 pen digits drawn on the canvas, as to_mnist gives them."""
    rng = np.random.default_rng(3)
    pens = load_pen_collections()
    canvases = [render_canvas(pen.strokes[i], rng) for pen in pens for i in rng.choice(len(pen), 250, replace=False)]
    digits = list(digitnet.load_mnist(mnist_path).x_test[:500]) + canvases
    return np.stack([digitnet.to_mnist(image) for image in digits]).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    return digitnet.load_classifier(), load_record(history_path(SHIPPED_MODEL))


@pytest.mark.parametrize("form", ["keras", "onnx", "tflite"])
@pytest.mark.training
def test_each_file_gives_what_predict_proba_gives_in_its_own_runtime(form, inputs, model, tmp_path):
    classifier, record = model
    out = tmp_path / f"digitnet.{form}"
    written = export(form, classifier, record, out)
    card = card_path(out)
    if form == "onnx":
        import onnx

        card = tmp_path / "card.md"
        card.write_text({p.key: p.value for p in onnx.load(out).metadata_props}["model_card"])
    else:
        assert written == [out, card] and "Real people it never saw" in card.read_text()
    np.save(tmp_path / "x.npy", inputs)
    result = subprocess.run([sys.executable, "-I", "-c", RUNTIME, form, str(out), str(card), str(tmp_path / "x.npy"),
                             str(tmp_path / "p.npy")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-2000:]
    theirs, ours = np.load(tmp_path / "p.npy"), classifier.predict_proba(inputs)
    assert np.abs(theirs - ours).max() <= 1e-5
    assert (theirs.argmax(axis=1) == ours.argmax(axis=1)).all()


def test_the_offline_page_reads_digits_with_the_network_off(browser, inputs, model, tmp_path, mnist_path):
    classifier, record = model
    out = tmp_path / "digitnet.html"
    calibration = upright(digitnet.load_mnist(mnist_path).x_train[:10_000] / np.float32(255))
    export("html", classifier, record, out, calibration)
    assert out.stat().st_size <= 300_000
    context = browser.new_context(offline=True, viewport={"width": 900, "height": 800})
    requests = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(out.as_uri())
    theirs = np.array(page.evaluate("""xs => xs.map(x => digitnetOffline.engine.predict(digitnetOffline.weights,
        {data: Float32Array.from(x), h: 28, w: 28}).probabilities)""", inputs.reshape(len(inputs), -1).tolist()))
    ours = classifier.predict_proba(inputs)
    assert np.abs(theirs - ours).max() <= 1e-2
    assert (theirs.argmax(axis=1) == ours.argmax(axis=1)).mean() >= 0.998
    box = page.locator("#canvas").bounding_box()
    mouse_strokes_on(page, box)
    page.locator('[data-testid="offline-digit"][data-live-digit="7"]').wait_for()
    assert "sure this is a 7" in page.locator("#sentence").inner_text()
    assert requests == [out.as_uri()]  # the page alone: no font, no script, no weights fetched
    context.close()


def mouse_strokes_on(page, box) -> None:
    """A 7 with the mouse on the offline page's canvas."""
    corners = [(75, 60), (205, 60), (120, 235)]
    page.mouse.move(box["x"] + corners[0][0], box["y"] + corners[0][1])
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
    page.mouse.up()


def test_a_format_that_does_not_exist_or_a_place_that_cannot_be_written_is_one_clear_message(model, tmp_path):
    classifier, record = model
    with pytest.raises(ExportError, match="no export format 'pdf'"):
        export("pdf", classifier, record, tmp_path / "x.pdf")
    blocker = tmp_path / "a file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="Cannot write"):
        export("onnx", classifier, record, blocker / "digitnet.onnx")
    result = subprocess.run([sys.executable, "-m", "digitnet", "export", "--format", "onnx", "--out",
                             str(blocker / "digitnet.onnx")], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 1 and "Cannot write" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.onnx"))


def test_the_page_offers_each_form_to_download(browser, mnist_path, tmp_path):
    import zipfile

    from chromium import CANVAS, SCREENSHOTS, WAIT_MS, page_server, settled

    with page_server(mnist_path, tmp_path) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.goto(url)
        page.locator(CANVAS).wait_for()
        page.get_by_role("tab", name="How it learned").click()
        settled(page, after_change=True)
        for label, check in (("Offline page (.html)", lambda path: b"digitnetEngine" in path.read_bytes()),
                             ("Keras (.zip)", lambda path: sorted(zipfile.ZipFile(path).namelist())
                              == ["digitnet-card.md", "digitnet.keras"])):
            with page.expect_download(timeout=WAIT_MS) as download:
                page.get_by_role("button", name=label).click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            assert check(saved), label
        if SCREENSHOTS:
            page.screenshot(path=str(SCREENSHOTS / "take-it-home.png"), full_page=True)
        page.close()
