"""Saliency and look-alike training digits, checked against Keras and against their meaning."""

import numpy as np
import pytest
import tensorflow as tf

from digitnet import Classifier, TrainConfig, train
from digitnet.reading.explain import LookAlikes, hidden_features, saliency, saliency_overlay
from digitnet.training.model import build_model


@pytest.fixture(scope="module")
def trained(tiny_mnist):
    run = train(TrainConfig(epochs=4, batch_size=16, hidden_units=32, learning_rate=1e-2, pen_digits=False,
                            teacher=False), tiny_mnist)
    return run.model, Classifier.from_keras(run.model)


def test_saliency_is_gradient_times_input_of_the_logit(trained, tiny_mnist):
    model, classifier = trained
    x = tiny_mnist.x_test[0].astype(np.float32) / 255
    digit = classifier.predict(x)
    logit_layer = model.layers[-1]  # its softmax is left out: saliency explains the logit
    inputs = tf.constant(x[None])
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        h = inputs
        for layer in model.layers[:-1]:
            h = layer(h, training=False)
        logit = tf.matmul(h, logit_layer.kernel) + logit_layer.bias
        score = logit[0, digit]
    expected = tape.gradient(score, inputs)[0].numpy() * x
    np.testing.assert_allclose(saliency(classifier, x), expected, rtol=1e-3, atol=1e-5)


def test_saliency_is_zero_where_there_is_no_ink(trained, tiny_mnist):
    _, classifier = trained
    x = tiny_mnist.x_test[1].astype(np.float32) / 255
    heat = saliency(classifier, x)
    assert np.all(heat[x == 0] == 0)
    assert np.abs(heat).max() > 0


def test_overlay_is_an_enlarged_rgb_image(trained, tiny_mnist):
    _, classifier = trained
    x = tiny_mnist.x_test[2].astype(np.float32) / 255
    picture = saliency_overlay(x, saliency(classifier, x))
    assert picture.shape == (224, 224, 3) and picture.dtype == np.uint8


def test_look_alikes_of_a_training_digit_start_with_itself(trained, tiny_mnist):
    _, classifier = trained
    index = LookAlikes.build(classifier, tiny_mnist.x_train, tiny_mnist.y_train)
    x = tiny_mnist.x_train[7].astype(np.float32) / 255
    nearest = index.nearest(classifier, x, k=5)
    assert nearest[0] == 7 or np.allclose(index.features[nearest[0]], index.features[7])
    assert np.mean(index.labels[nearest] == tiny_mnist.y_train[7]) >= 0.8


def test_hidden_features_have_the_last_hidden_width():
    classifier = Classifier.from_keras(build_model(TrainConfig(hidden_units=24)))
    assert hidden_features(classifier, np.zeros((3, 28, 28))).shape == (3, 24)
