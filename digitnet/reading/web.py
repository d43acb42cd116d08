"""The network in the browser: the engine's code (engine.js), the constants and words it reads from
here, and the model's browser file, 8-bit weights small enough for a phone on a room's Wi-Fi."""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from pathlib import Path

import numpy as np

from digitnet.errors import ModelFileError
from digitnet.files import replaced_whole
from digitnet.reading import preprocess
from digitnet.reading.classifier import SHIFTS, Classifier, DenseLayer
from digitnet.reading.prediction import CONFIDENT, SURE, UNSURE

log = logging.getLogger(__name__)

ENGINE_FILE = Path(__file__).with_name("engine.js")
MAGIC = b"DGNW"
# Quantising each weight to the nearest of 255 steps moved a probability by up to 0.027 on MNIST's
# test digits. Rounding one input's weights at a time and moving the error onto the inputs not yet
# rounded, as GPTQ does (Frantar et al., 2022), moved it by 0.012 on 1,500 drawn pen digits with this
# damping at 0.01, and by 0.0055 at 0.1 (0.014 on MNIST, which the browser never reads): 0.1 it is.
DAMPING = 0.1
# The first layer holds 100,352 of the 118,282 weights: 8 bits each. The other two, 16 bits: at 8 they
# moved a probability by 0.006 and 0.008 more. The file is 138 KB.
FIRST_LAYER_STEPS, OTHER_LAYER_STEPS = np.int8, np.int16
CALIBRATION_IMAGES = 10_000


def engine_code() -> str:
    """The browser engine's JavaScript: it defines window.digitnetEngine.createEngine(constants)."""
    return ENGINE_FILE.read_text()


def engine_constants() -> dict:
    """Every number and sentence both engines read, from where the numpy one reads it."""
    return {
        "FIELD": preprocess.FIELD, "BOX": preprocess.BOX, "STROKE_SCALE": preprocess.STROKE_SCALE,
        "MNIST_STROKE_RANGE": list(preprocess.MNIST_STROKE_RANGE), "MAX_STROKE_STEPS": preprocess.MAX_STROKE_STEPS,
        "MAX_SLANT": preprocess.MAX_SLANT, "UPRIGHT_SLANT": preprocess.UPRIGHT_SLANT,
        "SCREEN_NOISE_FLOOR": preprocess.SCREEN_NOISE_FLOOR, "MIN_CONTRAST": preprocess.MIN_CONTRAST,
        "MAX_BLOB_WIDTH": preprocess.MAX_BLOB_WIDTH, "MIN_INK_FRACTION": preprocess.MIN_INK_FRACTION,
        "BLANK": preprocess.BLANK, "NO_INK": preprocess.NO_INK, "BLOB": preprocess.BLOB,
        "SHIFTS": [list(shift) for shift in SHIFTS],
        "CONFIDENT": CONFIDENT, "SURE": SURE, "UNSURE": UNSURE,
    }


def browser_weights(classifier: Classifier, calibration: np.ndarray | None = None) -> bytes:
    """The classifier's browser file: each layer's weights as int8 or int16 steps, a float32 scale per
    unit, and float32 biases.

    `calibration`: (n, 28, 28) inputs in [0, 1] as the network reads them (MNIST's, upright), whose
    layer inputs steer the rounding; without them each weight is rounded to its nearest step.
    """
    h = None if calibration is None else calibration.reshape(len(calibration), -1).astype(np.float32)
    header, parts = {"fingerprint": classifier.fingerprint, "layers": []}, []
    for i, layer in enumerate(classifier.dense):
        steps, scales = _quantised(layer.kernel, h, FIRST_LAYER_STEPS if i == 0 else OTHER_LAYER_STEPS)
        header["layers"].append({"rows": layer.kernel.shape[0], "cols": layer.kernel.shape[1],
                                 "activation": layer.activation, "bits": steps.itemsize * 8})
        parts += [steps.astype(steps.dtype.newbyteorder("<")).tobytes(), scales.astype("<f4").tobytes(), layer.bias.astype("<f4").tobytes()]
        if h is not None and i + 1 < len(classifier.dense):  # the next layer's inputs, as the browser has them
            h = _activate(h @ (steps.astype(np.float32) * scales) + layer.bias, layer.activation)
    encoded = json.dumps(header).encode()
    return MAGIC + struct.pack("<I", len(encoded)) + encoded + b"".join(parts)


def load_browser_weights(data: bytes) -> Classifier:
    """The classifier a browser file holds, as the browser reads it: ModelFileError when it is not one."""
    try:
        if data[:4] != MAGIC:
            raise ValueError("no DGNW mark")
        (length,) = struct.unpack_from("<I", data, 4)
        header = json.loads(data[8 : 8 + length])
        offset, dense = 8 + length, []
        for layer in header["layers"]:
            rows, cols, steps_type = layer["rows"], layer["cols"], STEP_TYPES[layer["bits"]]
            steps = np.frombuffer(data, steps_type, rows * cols, offset).reshape(rows, cols)
            offset += rows * cols * steps_type.itemsize
            scales = np.frombuffer(data, "<f4", cols, offset)
            bias = np.frombuffer(data, "<f4", cols, offset + 4 * cols).astype(np.float32)
            offset += 8 * cols
            dense.append(DenseLayer(steps.astype(np.float32) * scales, bias, layer["activation"]))
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise ModelFileError(f"Not a browser weights file: {exc}") from exc
    return Classifier(dense)


STEP_TYPES = {8: np.dtype("i1"), 16: np.dtype("<i2")}


def published(data: bytes, folder: Path, suffix: str = ".bin") -> str:
    """Write a file for browsers into `folder` (a page's static folder) unless it is there, and return
    its name: its content's hash, so a name never stands for other content and a browser may keep it
    for ever, and replicas that made the same file share it."""
    name = hashlib.sha256(data).hexdigest()[:16] + suffix
    if not (folder / name).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        with replaced_whole(folder / name) as tmp:
            Path(tmp).write_bytes(data)
        log.info("Wrote %s (%d bytes) for browsers", folder / name, len(data))
    return name


def _quantised(kernel: np.ndarray, inputs: np.ndarray | None, steps_type: type) -> tuple[np.ndarray, np.ndarray]:
    """`kernel` (inputs x units) as whole steps of `steps_type` and a scale per unit. With `inputs`
    (n x inputs), each input's weights are rounded in turn and their error spread over the inputs not
    yet rounded, in proportion to how the inputs vary together (GPTQ), so the outputs move least."""
    top = np.iinfo(steps_type).max
    scales = (np.abs(kernel).max(axis=0) / top).astype(np.float32)
    scales[scales == 0] = 1.0
    if inputs is None:
        return np.clip(np.rint(kernel / scales), -top, top).astype(steps_type), scales
    weights = kernel.astype(np.float64)
    hessian = inputs.T.astype(np.float64) @ inputs / len(inputs)
    dead = np.diag(hessian) == 0
    hessian[dead, dead] = 1.0
    hessian += DAMPING * np.mean(np.diag(hessian)) * np.eye(len(hessian))
    inverse = np.linalg.cholesky(np.linalg.inv(hessian)).T
    steps = np.zeros(kernel.shape, dtype=steps_type)
    for i in range(len(weights)):
        steps[i] = np.clip(np.rint(weights[i] / scales), -top, top)
        error = (weights[i] - steps[i] * scales) / inverse[i, i]
        weights[i + 1 :] -= np.outer(inverse[i, i + 1 :], error)
    return steps, scales


def _activate(z: np.ndarray, activation: str) -> np.ndarray:
    return np.maximum(z, 0.0) if activation == "relu" else z
