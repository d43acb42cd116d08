"""Training: the Keras network and how a model is made, measured and replaced.

The recipe of what it learns from (recipe), the network (model), training it (train), honest
confidence (calibration), measuring it (evaluate), its curves (plots), and a retrain in its own
process, one at a time (jobs). Only model and train import TensorFlow.
"""
