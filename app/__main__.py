"""`python -m sinoqa_app`: serve the chat UI with the settings from the environment."""

from sinoqa_app.ui import launch

if __name__ == "__main__":
    launch()
