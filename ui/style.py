"""Colours and sizes the sections share."""

# Okabe-Ito colours: told apart with any colour vision, and high contrast on white.
TOP_COLOUR, OTHER_COLOUR = "#D55E00", "#56B4E9"
TRAINING_COLOUR, VALIDATION_COLOUR = "#0072B2", "#E69F00"
PRESENTER_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.digit-answer {font-size: 14rem !important;}
.answer-sentence {font-size: 2.2rem !important;}
</style>
"""
