"""Reading: a drawing or a photo -> its 28x28 input -> the network's answer, and what explains it.

Nothing here imports TensorFlow or Streamlit: the network's forward pass is numpy over its saved
weights (classifier), so a page server stays light. The browser reads with the same network and the
same steps (engine.js, fed by web.py).
"""
