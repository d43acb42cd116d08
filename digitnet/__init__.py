"""digitnet: read handwritten digits with a small dense Keras network trained on MNIST."""

from digitnet.config import TrainConfig
from digitnet.data import Mnist, load_mnist
from digitnet.errors import (
    BlankImageError,
    DataError,
    DigitnetError,
    ImageError,
    ModelFileError,
    TrainingCancelled,
)
from digitnet.model import Classifier, load_classifier
from digitnet.preprocess import open_image, to_mnist
from digitnet.training import TrainingRun, save_run, train

__all__ = [
    "BlankImageError",
    "Classifier",
    "DataError",
    "DigitnetError",
    "ImageError",
    "Mnist",
    "ModelFileError",
    "TrainConfig",
    "TrainingCancelled",
    "TrainingRun",
    "load_classifier",
    "load_mnist",
    "open_image",
    "save_run",
    "to_mnist",
    "train",
]
