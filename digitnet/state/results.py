"""A room's results to take home: a CSV of its drawings and a zip of them as 28x28 PNGs in the folder
layout Keras' image_dataset_from_directory reads (one folder per digit asked for)."""

from __future__ import annotations

import csv
import io
import time
import zipfile

from PIL import Image

from digitnet.state.room import Sent

COLUMNS = ("time", "phone", "prompt", "answer", "confidence", "label")


def results_csv(drawings: tuple[Sent, ...]) -> bytes:
    """One row a drawing: UTC time, the phone's number, the digit asked for (empty for any digit), the
    digit read, how sure the network was, and the label: the digit asked for, which the phone drew to."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    for sent in drawings:
        asked = "" if sent.prompt is None else sent.prompt
        writer.writerow([time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent.time)), sent.phone, asked,
                         sent.answer, f"{sent.confidence:.4f}", asked])
    return text.getvalue().encode()


def results_zip(drawings: tuple[Sent, ...]) -> bytes:
    """The drawings sent to a prompt as PNGs, drawings/<label>/<n>.png; any-digit ones have no label."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, sent in enumerate(drawings, start=1):
            if sent.prompt is None:
                continue
            png = io.BytesIO()
            Image.fromarray(sent.pixels, "L").save(png, "PNG")
            archive.writestr(f"drawings/{sent.prompt}/{number:05d}.png", png.getvalue())
        archive.writestr("results.csv", results_csv(drawings))
    return buffer.getvalue()
