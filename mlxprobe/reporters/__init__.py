"""Reporters: render run entries (report dicts) for people. They read reports, never run.

Must not import: mlx, the runner, the child side.
"""
