"""The network to take home: a file any runtime reads (Keras, ONNX, TFLite) or one HTML page that reads
digits offline with the browser's engine, each with its model card. Only Keras and TFLite import
TensorFlow, when asked for: the page makes the other two itself."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from digitnet.errors import DigitnetError
from digitnet.files import replaced_whole
from digitnet.reading import web
from digitnet.reading.classifier import NUM_CLASSES, SHIFTS, Classifier
from digitnet.state.history import ModelRecord

FORMATS = ("keras", "onnx", "tflite", "html")
SUFFIXES = {"keras": ".keras", "onnx": ".onnx", "tflite": ".tflite", "html": ".html"}
OFFLINE_PAGE = Path(__file__).with_name("reading") / "offline.html"
INPUT = ("a 28x28 float32 image in [0, 1], white digit on black, centred by mass in a 20x20 box and upright: "
         "what digitnet.to_mnist returns (a batch: n x 28 x 28)")
# What every form does with it, and so what no reader of it has to do: predict_proba's averaging.
AVERAGED = ("it averages the network's answers for the input and the input moved one pixel down, up, right "
            "and left (wrapping round), as digitnet's predict_proba does")
ONNX_OPSET = 13
# preprocess.upright for one image, as short as it goes: what a model file cannot hold (tests/test_export.py
# runs this very text).
UPRIGHT_CODE = """
import numpy as np

def upright(x):  # x: (28, 28) float32 in [0, 1]; the digit made upright when it leans, else x
    rows = np.arange(28, dtype=np.float32)
    mass = x.sum(axis=1)
    below = rows - mass @ rows / max(mass.sum(), 1e-6)
    right = rows - x.sum(axis=0) @ rows / max(mass.sum(), 1e-6)
    slant = (x @ right) @ below / max((mass * below**2).sum(), 1e-6)
    if abs(slant) < 0.05:
        return x
    source = rows[None, :] + np.clip(slant, -0.6, 0.6) * below[:, None]
    before = np.floor(source)
    weight = source - before
    framed = np.pad(x, ((0, 0), (1, 1)))
    take = lambda i: np.take_along_axis(framed, np.clip(i.astype(int) + 1, 0, 29), axis=1)
    return take(before) * (1 - weight) + take(before + 1) * weight
"""


class ExportError(DigitnetError):
    """An export that cannot be made: an unknown form, or a place it cannot be written."""


def export(form: str, classifier: Classifier, record: ModelRecord | None, out: Path,
           calibration: np.ndarray | None = None) -> list[Path]:
    """Write the network as `form` at `out`, and for Keras and TFLite its model card beside it (ONNX and
    the HTML page hold theirs); each file replaced whole. Returns the files written."""
    if form not in FORMATS:
        raise ExportError(f"There is no export format {form!r}: use one of {', '.join(FORMATS)}")
    card = model_card(classifier, record, form)
    if form == "onnx":
        files = {out: onnx_model(classifier, card)}
    elif form == "html":
        files = {out: offline_page(classifier, card, calibration).encode()}
    else:
        files = {out: keras_file(classifier) if form == "keras" else tflite_model(classifier),
                 card_path(out): card.encode()}
    try:
        for path, data in files.items():
            with replaced_whole(path) as tmp:
                Path(tmp).write_bytes(data)
    except OSError as exc:
        raise ExportError(f"Cannot write {out}: {exc.strerror or exc}") from exc
    return list(files)


def exported_elsewhere(form: str, model: Path) -> bytes:
    """The model at `model` as `form`, zipped with its model card, made by `python -m digitnet export` in
    a process of its own: Keras and TFLite import TensorFlow, which a page's server never does."""
    import io
    import subprocess
    import sys
    import tempfile
    import zipfile

    from digitnet.config import child_environment

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"digitnet{SUFFIXES[form]}"
        done = subprocess.run([sys.executable, "-m", "digitnet", "export", "--format", form, "--out", str(out),
                               "--model", str(model)], env=child_environment(), capture_output=True, text=True)
        if done.returncode != 0:
            raise ExportError(f"The {form} file could not be made: {done.stderr.strip().splitlines()[-1:]}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in (out, card_path(out)):
                archive.write(path, path.name)
        return buffer.getvalue()


def card_path(out: Path) -> Path:
    """Where the model card of a Keras or TFLite export goes: beside it, named for it."""
    return out.with_name(out.stem + "-card.md")


def model_card(classifier: Classifier, record: ModelRecord | None, form: str) -> str:
    """What the exported network is, in Markdown: what it learned from, how it does on people it never
    saw, when, which weights, and the input it expects."""
    people = record.held_out_writers if record else None
    sources = ", ".join(source.get("name", "?") for source in record.sources) if record and record.sources else "unknown"
    lines = [
        "# digitnet: a handwritten digit reader",
        "",
        f"- **Form:** {form}",
        f"- **Weights:** {classifier.fingerprint} ({classifier.num_parameters:,} parameters: 784 -> 128 -> 128 -> 10, "
        "ReLU, softmax)",
        f"- **Trained:** {(record.trained_at or 'unknown') if record else 'unknown'}",
        f"- **Learned from:** {sources}",
        "- **Real people it never saw:** " + (f"{people.accuracy:.2%} of the pen digits of {people.writers} held-out "
                                              "writers" if people else "not measured"),
        "- **MNIST test digits:** " + (f"{record.test_accuracy:.2%}" if record and record.test_accuracy is not None
                                       else "not measured"),
        f"- **Input:** {INPUT}.",
        f"- **Output:** ten probabilities, of the digits 0 to 9; {AVERAGED}.",
    ]
    if form == "html":
        lines.append("- **Weights in the page:** the first layer in 8 bits, the others in 16 (within 0.01 of the "
                     "full network's probabilities).")
        return "\n".join(lines) + "\n"
    lines += ["- **Not inside:** a digit that still leans after to_mnist (it leaned more than 0.6 pixels sideways per "
              "pixel down) is straightened once more by predict_proba; do the same first with `upright`:", "",
              "```python", UPRIGHT_CODE.strip(), "```"]
    return "\n".join(lines) + "\n"


def onnx_model(classifier: Classifier, card: str) -> bytes:
    """The network as an ONNX model: input "image" (n, 28, 28) float32, output "probabilities" (n, 10),
    the five moved passes averaged inside it; the model card in its metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    side = 28
    nodes, weights = [], []

    def constant(name: str, values) -> str:
        weights.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def rolled(source: str, shift: int, axis: int, name: str) -> str:
        """np.roll(source, shift, axis): the last `shift` rows (or columns) first, or the first last."""
        cut = side - shift if shift > 0 else -shift
        head, tail = f"{name}_head", f"{name}_tail"
        nodes.append(helper.make_node("Slice", [source, constant(f"{name}_s0", [cut]), constant(f"{name}_e0", [side]),
                                                constant(f"{name}_a", [axis])], [tail]))
        nodes.append(helper.make_node("Slice", [source, constant(f"{name}_s1", [0]), constant(f"{name}_e1", [cut]),
                                                constant(f"{name}_a1", [axis])], [head]))
        nodes.append(helper.make_node("Concat", [tail, head], [name], axis=axis))
        return name

    flat = constant("flat_shape", np.array([-1, side * side], dtype=np.int64))
    for i, layer in enumerate(classifier.dense):
        constant(f"kernel_{i}", layer.kernel.astype(np.float32))
        constant(f"bias_{i}", layer.bias.astype(np.float32))
    passes = []
    for k, (rows, cols) in enumerate(SHIFTS):
        h = "image"
        if rows:
            h = rolled(h, rows, 1, f"pass{k}_rows")
        if cols:
            h = rolled(h, cols, 2, f"pass{k}_cols")
        nodes.append(helper.make_node("Reshape", [h, flat], [f"pass{k}_flat"]))
        h = f"pass{k}_flat"
        for i, layer in enumerate(classifier.dense):
            nodes.append(helper.make_node("MatMul", [h, f"kernel_{i}"], [f"pass{k}_z{i}_w"]))
            nodes.append(helper.make_node("Add", [f"pass{k}_z{i}_w", f"bias_{i}"], [f"pass{k}_z{i}"]))
            activation = {"relu": "Relu", "softmax": "Softmax", "linear": "Identity"}[layer.activation]
            options = {"axis": 1} if activation == "Softmax" else {}
            nodes.append(helper.make_node(activation, [f"pass{k}_z{i}"], [f"pass{k}_h{i}"], **options))
            h = f"pass{k}_h{i}"
        passes.append(h)
    nodes.append(helper.make_node("Mean", passes, ["probabilities"]))
    graph = helper.make_graph(
        nodes, "digitnet", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", side, side])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", NUM_CLASSES])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="digitnet")
    model.ir_version = 8  # read by onnxruntime releases of the last years, not only the newest
    helper.set_model_props(model, {"model_card": card, "weights": classifier.fingerprint})
    onnx.checker.check_model(model)
    return model.SerializeToString()


def offline_page(classifier: Classifier, card: str, calibration: np.ndarray | None = None) -> str:
    """One HTML file that reads digits drawn on it, live, with no server and no network: the browser's
    engine, its constants and the network's browser file inside it, and the model card on the page."""
    weights = web.browser_weights(classifier, calibration)
    return (OFFLINE_PAGE.read_text()
            .replace("/*ENGINE*/", web.engine_code())
            .replace('"/*CONSTANTS*/"', json.dumps(web.engine_constants()))
            .replace("/*WEIGHTS*/", base64.b64encode(weights).decode())
            .replace("<!--CARD-->", "\n".join(f"<li>{html.escape(line[2:])}</li>" for line in card.splitlines()
                                               if line.startswith("- "))))


def keras_model(classifier: Classifier):
    """The network as a Keras model of built-in layers only, so that keras.saving.load_model reads it with
    nothing of digitnet: the five moved passes (rows and columns cut and joined again) through one stack
    of Dense layers, averaged. No optimizer: it is for reading."""
    import keras

    side = 28
    image = keras.Input((side, side), name="image")
    dense = [keras.layers.Dense(layer.kernel.shape[1], activation=layer.activation, name=f"dense_{i}")
             for i, layer in enumerate(classifier.dense)]
    flatten = keras.layers.Flatten(name="flatten")

    def rolled(x, shift: int, axis: int):
        if axis == 2:  # columns: turned into rows and back
            x = keras.layers.Permute((2, 1))(x)
        cut = side - shift if shift > 0 else -shift
        x = keras.layers.Concatenate(axis=1)([keras.layers.Cropping1D((cut, 0))(x),
                                              keras.layers.Cropping1D((0, side - cut))(x)])
        return keras.layers.Permute((2, 1))(x) if axis == 2 else x

    passes = []
    for rows, cols in SHIFTS:
        h = image
        if rows:
            h = rolled(h, rows, 1)
        if cols:
            h = rolled(h, cols, 2)
        h = flatten(h)
        for layer in dense:
            h = layer(h)
        passes.append(h)
    model = keras.Model(image, keras.layers.Average(name="probabilities")(passes), name="digitnet")
    for layer, weights in zip(dense, classifier.dense):
        layer.set_weights([weights.kernel, weights.bias])
    return model


def keras_file(classifier: Classifier) -> bytes:
    """The Keras model's .keras file."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digitnet.keras"
        keras_model(classifier).save(path)
        return path.read_bytes()


def tflite_model(classifier: Classifier) -> bytes:
    """The Keras model converted to TensorFlow Lite (LiteRT), float32, input (1, 28, 28)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(keras_model(classifier)).convert()
