"""State: what the page's replicas and machines share: the model in use and its versions, the rooms,
the database, the limits on what a visitor may ask for, and the admin gate.

Nothing here imports TensorFlow or Streamlit.
"""
