"""Data: what the network learns from and is measured on.

MNIST (mnist), real people's pen digits (pendigits) drawn as the canvas draws them (render), MNIST
digits drawn like a person for a test set (drawn), and the drawings visitors confirmed (collected).
"""
