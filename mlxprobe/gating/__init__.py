"""What gates an mlx upgrade: comparing two reports, the rank test, environments, schedules.

Must not import: mlx, the inside side, watching.
"""
