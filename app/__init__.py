"""The sinoqa chat UI (installed as the ``sinoqa_app`` package)."""

from sinoqa_app.ui import CSS, build_app, launch

__all__ = ["CSS", "build_app", "launch"]
