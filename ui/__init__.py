"""The page's sections, one module each; app.py lays them out. Only this package talks to Streamlit."""
