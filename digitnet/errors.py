"""The exceptions digitnet raises: each message says what is wrong and what to do."""


class DigitnetError(Exception):
    """Base class of every error digitnet raises on purpose."""


class BlankImageError(DigitnetError):
    """The image holds no digit: it is empty, blank or nearly so."""


class EmptyImageError(BlankImageError):
    """Nothing at all is drawn: no ink, not even a mark."""


class ImageError(DigitnetError):
    """The input cannot be read as an image of a digit."""


class CanvasError(ImageError):
    """What a canvas sent is not a drawing of it: a forged message, never the page's own canvas."""


class DataError(DigitnetError):
    """The MNIST data cannot be loaded or is not in the expected layout."""


class ModelFileError(DigitnetError):
    """A model file is missing, unreadable or not a digitnet model."""


class TrainingError(DigitnetError):
    """A retrain could not be started."""


class TrainingCancelled(DigitnetError):
    """Training was stopped on request before it finished."""


class DrawingsError(DigitnetError):
    """A drawing cannot be saved: the folder is full or cannot be written."""


class SharedStateError(DigitnetError):
    """The database server that every machine shares cannot be used just now."""
