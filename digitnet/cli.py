"""The command line: `python -m digitnet train | evaluate | predict | train-teacher | audit-labels | draw-ahead |
serve`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np

from digitnet.config import CACHE_ENV, MISLABELLED_FILE, MODELS_DIR, SHIPPED_MODEL, TrainConfig
from digitnet.data.drawn import make_drawn_set
from digitnet.data.mnist import MNIST_ENV, load_mnist
from digitnet.data.pendigits import PENDIGITS_ENV, UNIPEN_ENV, load_pen_collections
from digitnet.errors import DataError, DigitnetError, ModelFileError
from digitnet.replicas import ServeConfig, serve
from digitnet.reading.classifier import load_classifier
from digitnet.state.history import ModelRecord, history_path, load_record
from digitnet.reading.preprocess import open_image, to_mnist
from digitnet.training.evaluate import (
    VERY_SURE,
    Evaluation,
    drawn_accuracy,
    evaluate,
    evaluate_drawings,
    format_confusion,
)
from digitnet.training.ahead import draw_ahead
from digitnet.training.jobs import BUSY_EXIT, STATUS_FILENAME
from digitnet.training.retrain import DataFiles, run_reported_retrain, train_from_files
from digitnet.training.recipe import held_out_drawings, unseen_writers

log = logging.getLogger("digitnet")

PENDIGITS_HELP = (
    f"UCI's pen digits, a file in the UNIPEN format (.tra, or .gz); default: ${PENDIGITS_ENV}, "
    "else the copy shipped with digitnet"
)
UNIPEN_HELP = (
    f"UNIPEN's digits, a file in the same format (.tra, or .gz); default: ${UNIPEN_ENV}, "
    "else the copy shipped with digitnet"
)
MNIST_HELP = (
    f"a local MNIST .npz (layout of keras.datasets.mnist.load_data()); "
    f"default: ${MNIST_ENV}, else Keras' download"
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.command(args)
    except DigitnetError as exc:
        log.error("error: %s", exc)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m digitnet",
        description="Train, evaluate and use the digitnet handwritten-digit classifier.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_train_teacher(commands)
    _add_audit_labels(commands)
    _add_draw_ahead(commands)
    _add_serve(commands)
    _add_export(commands)
    return parser


def _add_train(commands: argparse._SubParsersAction) -> None:
    """`train`: fit a fresh model and save it (also the page's retrain, with --report)."""
    train_parser = commands.add_parser(
        "train",
        help="train a fresh model on MNIST and real people's pen digits, and save it",
        description="Train a fresh model on MNIST and on pen digits by real people drawn as on the page's "
                    "canvas (--no-pen-digits: MNIST alone); write the model, history.json and "
                    "training_curves.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data(train_parser)
    train_parser.add_argument("--out", type=Path, default=MODELS_DIR, help="folder to write the model into")
    train_parser.add_argument("--room", metavar="CODE",
                              help="also learn from the drawings a room's phones sent to a prompt (one in five "
                                   "kept out to score), each repeated as --drawing-repeats says")
    train_parser.add_argument(
        "--report", action="store_true",
        help=f"run as the page's retrain: hold a lock in the folder (exit {BUSY_EXIT} if another retrain holds "
             f"it), write progress to {STATUS_FILENAME} there, and stop when training.cancel appears there",
    )
    _add_settings(train_parser)
    train_parser.set_defaults(command=run_train)


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    """`evaluate`: measure a model on MNIST and on the writers it never saw."""
    evaluate_parser = commands.add_parser(
        "evaluate",
        help="measure a model on MNIST's test images and on real people it never saw",
        description="Print accuracy, accuracy per digit and the confusion matrix on MNIST's test images; "
                    "then accuracy on the pen digits of the writers the model never trained on, drawn as "
                    "on the page's canvas: per digit, per writer, the share of misreads said with at "
                    "least 90%% confidence, and the calibration error.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    evaluate_parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="the .keras model file")
    _add_data(evaluate_parser)
    evaluate_parser.add_argument(
        "--drawn", type=int, default=0, metavar="N",
        help="also read N test digits re-drawn like a person (random size, place and stroke)",
    )
    evaluate_parser.set_defaults(command=run_evaluate)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    """`predict`: read the digit in image files."""
    predict_parser = commands.add_parser(
        "predict",
        help="read the digit in image files",
        description="Print the digit and its probability for each image file (one handwritten digit each).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    predict_parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predict_parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help="the .keras model file")
    predict_parser.set_defaults(command=run_predict)


def _add_train_teacher(commands: argparse._SubParsersAction) -> None:
    """`train-teacher`: the convolutional network a retrain with --teacher learns from."""
    parser = commands.add_parser(
        "train-teacher",
        help="train the teacher a retrain with --teacher learns from (a small CNN, used only while training)",
        description="Train a small convolutional network on the default recipe's data (MNIST and the pen "
                    "digits, augmented the same way) and save it as teacher.keras; print how it reads MNIST "
                    "and the writers the student never sees. Only the training process loads it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data(parser)
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="folder to write teacher.keras into")
    parser.add_argument("--members", type=int, default=1,
                        help="how many networks, each from its own seed, the teacher averages")
    _add_settings(parser)
    parser.set_defaults(command=run_train_teacher, epochs=6)  # a convolution learns in fewer passes


def run_train_teacher(args: argparse.Namespace) -> int:
    from digitnet.training.teacher import TEACHER_FILENAME, save_teacher, train_teacher

    config = _config(args)
    if config is None:
        return 2
    if args.members < 1:
        log.error("error: --members must be at least 1, not %d", args.members)
        return 2
    run = train_teacher(config, load_mnist(args.mnist), load_pen_collections(args.pendigits, args.unipen),
                        config.epochs, args.members)
    save_teacher(run, args.out / TEACHER_FILENAME)
    for name, evaluation in run.held_out.items():
        _log_people(f"the teacher on {name}'s writers it never saw", evaluation)
    return 0


def _add_audit_labels(commands: argparse._SubParsersAction) -> None:
    """`audit-labels`: find the pen digits whose label does not say what is drawn."""
    parser = commands.add_parser(
        "audit-labels",
        help="find the pen digits whose label does not say what is drawn, and list them",
        description="Read every pen digit with a network that never saw its writer (the writers split in two, "
                    "a network trained without each half), find wrong labels by confident learning on those "
                    "answers (the cleanlab package: pip install -r requirements-dev.txt) and by rules on the "
                    "strokes (several digits side by side, dots, one straight stroke under another label "
                    "than 1), and write them as candidates: look at them (--picture) and copy those that are "
                    "wrong into data/mislabelled.csv, the list that training and measuring leave out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_data(parser)
    parser.add_argument("--out", type=Path, default=Path("mislabelled-candidates.csv"),
                        help="the candidates to write (CSV, in data/mislabelled.csv's form)")
    parser.add_argument("--picture", type=Path, help="also save a page of the candidates, as a PNG")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed, help="random seed of the networks")
    parser.set_defaults(command=run_audit_labels)


def run_audit_labels(args: argparse.Namespace) -> int:
    from digitnet.data.labels import write_mislabelled
    from digitnet.training.audit import audit_labels, save_audit_picture

    pens = load_pen_collections(args.pendigits, args.unipen, whole=True)
    found = audit_labels(TrainConfig(seed=args.seed), load_mnist(args.mnist), pens)
    write_mislabelled(found, args.out)
    log.info("Wrote %d candidates to %s: those you find wrong belong in %s", len(found), args.out, MISLABELLED_FILE)
    if args.picture:
        save_audit_picture(pens, found, args.picture)
    return 0


def _add_draw_ahead(commands: argparse._SubParsersAction) -> None:
    """`draw-ahead`: draw the pen digits a retrain needs into the cache."""
    draw_ahead_parser = commands.add_parser(
        "draw-ahead", aliases=["prepare"],  # its name until 2026-12: scripts that call it keep working
        help="draw the pen digits a retrain draws into the cache, so the next retrain skips that",
        description="Draw every pen digit a retrain with the model in use's settings draws (the sidebar "
                    "starts from them; both collections' "
                    "training copies, validation and held-out writers) into the drawing cache "
                    f"(${CACHE_ENV}, else ~/.cache/digitnet/drawn), at the lowest CPU priority. The page "
                    "starts this when its server starts; one runs at a time (a lock in the cache), and one "
                    "killed midway leaves only whole files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    draw_ahead_parser.add_argument("--pendigits", type=Path, help=PENDIGITS_HELP)
    draw_ahead_parser.add_argument("--unipen", type=Path, help=UNIPEN_HELP)
    draw_ahead_parser.set_defaults(command=run_draw_ahead)


# Every environment setting that changes what `serve` does (docs/operator.md says more of each).
SERVE_ENVIRONMENT = """environment:
  DIGITNET_DATABASE_URL     postgresql://ROLE:PASSWORD@HOST:5432/DATABASE: shared state for several machines
                            (the role must own the database; checked at start); unset: files on this machine
  DIGITNET_RETRAINED_DIR    where a retrained model is kept (default: models/retrained)
  DIGITNET_DRAWINGS_DIR     the collected drawings and the rooms' store (default: ~/.local/share/digitnet/drawings)
  DIGITNET_ADMIN_PASSWORD   who may retrain, restore and run a room (also .streamlit/secrets.toml)
  DIGITNET_TRUSTED_PROXIES  proxies on other machines whose X-Forwarded-For is believed, comma-separated
                            addresses or networks: "10.0.0.0/8, 192.0.2.10"
  DIGITNET_MNIST            a local mnist.npz, for the page's "How good is it"
  DIGITNET_CACHE_DIR        where a retrain's drawn pen digits are kept (default: ~/.cache/digitnet/drawn)
  DIGITNET_DRAW_AHEAD       0: do not draw them ahead when the page starts
"""


class ServeHelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option, and the environment block as it is written."""


def _add_serve(commands: argparse._SubParsersAction) -> None:
    """`serve`: replicas behind nginx, for a room."""
    defaults = ServeConfig()
    serve_parser = commands.add_parser(
        "serve",
        help="serve the page to a room: one replica per core behind nginx, with sticky sessions",
        description="Start REPLICAS `streamlit run app.py` processes on local ports and nginx in front of them "
                    "(deploy/nginx.conf: sticky sessions by cookie, WebSockets). A replica that dies is "
                    "restarted; Ctrl-C or SIGTERM stops everything. Needs nginx (apt-get install nginx). "
                    "The replicas share $DIGITNET_RETRAINED_DIR and $DIGITNET_DRAWINGS_DIR.",
        epilog=SERVE_ENVIRONMENT,
        formatter_class=ServeHelpFormatter,
    )
    serve_parser.add_argument("--replicas", type=int, default=defaults.replicas, help="how many page processes")
    serve_parser.add_argument("--port", type=int, default=defaults.port, help="the port visitors open")
    serve_parser.add_argument("--host", default=defaults.host, help="the address nginx listens on")
    serve_parser.add_argument("--upstream", action="append", default=[], metavar="HOST:PORT",
                              help="a replica on another machine that nginx also sends visitors to (repeat it)")
    serve_parser.add_argument("--replicas-only", action="store_true",
                              help="no nginx: the replicas listen on every interface on --port and the ports "
                                   "after it, for an nginx on another machine (its --upstream)")
    serve_parser.set_defaults(command=run_serve)


def run_draw_ahead(args: argparse.Namespace) -> int:
    draw_ahead(args.pendigits, args.unipen)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    if args.replicas < 1:
        log.error("error: --replicas must be at least 1")
        return 2
    return serve(ServeConfig(replicas=args.replicas, port=args.port, host=args.host, upstreams=tuple(args.upstream),
                             replicas_only=args.replicas_only))


def _add_data(parser: argparse.ArgumentParser) -> None:
    """Where the data is: the MNIST file (--data, its name until 2026-12, still works) and the pen digits."""
    parser.add_argument("--mnist", "--data", type=Path, dest="mnist", help=MNIST_HELP)
    parser.add_argument("--pendigits", type=Path, help=PENDIGITS_HELP)
    parser.add_argument("--unipen", type=Path, help=UNIPEN_HELP)


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """A flag for each of TrainConfig's settings."""
    for setting in dataclasses.fields(TrainConfig):
        _add_setting(parser, setting)


def _add_setting(parser: argparse.ArgumentParser, setting: dataclasses.Field) -> None:
    flag = "--" + setting.name.replace("_", "-")
    if setting.type in (bool, "bool"):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=setting.default,
                            help=setting.metadata["help"])
    else:
        kind = {"int": int, "float": float}[str(setting.type)]
        parser.add_argument(flag, type=kind, default=setting.default, help=setting.metadata["help"])


def _config(args: argparse.Namespace) -> TrainConfig | None:
    """The training settings the command line gave; None, saying why, when they make no sense."""
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    try:
        config.validate()
    except ValueError as exc:
        log.error("error: %s", exc)
        return None
    return config


def run_train(args: argparse.Namespace) -> int:
    config = _config(args)
    if config is None:
        return 2
    data = DataFiles(args.mnist, args.pendigits, args.unipen, args.room)
    if args.report:
        return run_reported_retrain(config, data, args.out)
    from digitnet.training.train import save_run

    run, note = train_from_files(config, data, args.out)
    log.info("MNIST test accuracy %.4f; saved %s.%s", run.test_accuracy, save_run(run, args.out), note)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    classifier = load_classifier(args.model)
    data = load_mnist(args.mnist)
    result = evaluate(classifier, data.upright())
    log.info("MNIST test accuracy: %.4f on %d images", result.accuracy, len(data.y_test))
    log.info("per digit: %s", _per_digit(result))
    log.info("confusion matrix (rows: true digit, columns: predicted):\n%s", format_confusion(result.confusion))
    record = _record_or_none(args.model)
    collections = {}
    for pen in load_pen_collections(args.pendigits, args.unipen):
        writers = unseen_writers(pen, record)
        collections[pen.name] = people = evaluate_drawings(classifier, held_out_drawings(pen, writers))
        _log_people(f"{pen.name}: {len(writers)} writers it never saw ({' '.join(map(str, writers))})", people)
        log.info("per writer, worst first: %s", "  ".join(
            f"{w}: {a:.4f}" for w, a in sorted(people.per_writer().items(), key=lambda item: item[1])))
    _log_people(f"all {len(collections)} pen collections together", Evaluation.joined(collections.values()))
    if args.drawn:
        drawn = make_drawn_set(data.x_test, data.y_test, args.drawn)
        log.info("MNIST drawn-like-a-person accuracy: %.4f on %d drawings",
                 drawn_accuracy(classifier, drawn, to_mnist), len(drawn))
    return 0


def _log_people(who: str, people: Evaluation) -> None:
    log.info("%s, drawn as on the canvas: accuracy %.4f on %d digits", who, people.accuracy,
             len(people.labels) + people.refused)
    log.info("per digit: %s", _per_digit(people))
    log.info("misreads: %d, of which said with >= %.0f%% confidence: %.1f%%; calibration error %.4f",
             len(people.mistakes()), 100 * VERY_SURE, 100 * people.confident_misreads, people.calibration_error)


def _per_digit(result: Evaluation) -> str:
    return "  ".join(f"{d}: {a:.4f}" for d, a in enumerate(result.per_digit))


def _add_export(commands: argparse._SubParsersAction) -> None:
    """`export`: the model in use as a file any runtime reads, or an offline page."""
    from digitnet.export import FORMATS

    parser = commands.add_parser(
        "export",
        help="write the model in use as Keras, ONNX, TFLite or one offline HTML page",
        description="Write the model in use (the retrained one if there is one) as a file of its own, with its "
                    "model card: Keras (.keras) and TFLite (.tflite) with the card beside them, ONNX with it inside, "
                    "or one HTML page that reads digits drawn on it with no server and no network.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="the form to write")
    parser.add_argument("--out", required=True, type=Path, help="the file to write")
    parser.add_argument("--model", type=Path, default=None, help="a .keras model file; default: the model in use")
    parser.add_argument("--mnist", type=Path, default=None,
                        help="MNIST, whose training digits steer the HTML page's 8-bit weights; " + MNIST_HELP)
    parser.set_defaults(command=run_export)


def run_export(args: argparse.Namespace) -> int:
    from digitnet.export import export
    from digitnet.reading.preprocess import upright
    from digitnet.state.store import ModelStore

    model = args.model or ModelStore().active_path()
    calibration = None
    if args.format == "html":
        try:
            calibration = upright(load_mnist(args.mnist).x_train[:10_000] / np.float32(255))
        except DataError as exc:
            log.warning("MNIST cannot be loaded (%s): the page's 8-bit weights are rounded to the nearest step", exc)
    for path in export(args.format, load_classifier(model), _record_or_none(model), args.out, calibration):
        print(path)
    return 0


def _record_or_none(model_path: Path) -> ModelRecord | None:
    try:
        return load_record(history_path(model_path))
    except ModelFileError:
        return None


def run_predict(args: argparse.Namespace) -> int:
    classifier = load_classifier(args.model)
    failures = 0
    for path in args.images:
        try:
            probabilities = classifier.predict_proba(to_mnist(open_image(path)))
        except DigitnetError as exc:
            log.error("%s: error: %s", path, exc)
            failures += 1
            continue
        digit = int(probabilities.argmax())
        print(f"{path}: {digit} ({probabilities[digit]:.1%})")
    return 1 if failures else 0
