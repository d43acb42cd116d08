"""The app's pages, one script each, by path from app.py: tests and "Show it as the input" name them so."""

DRAW = "ui/pages/draw.py"
LEARNED = "ui/pages/learned.py"
HOW_GOOD = "ui/pages/how_good.py"
