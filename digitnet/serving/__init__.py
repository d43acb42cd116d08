"""Serving: what the page uses to read a drawing and show its answer.

Nothing here imports TensorFlow or Streamlit, and nothing starts a process: the network's forward
pass is numpy over its saved weights (classifier), so a page server stays light.
"""
