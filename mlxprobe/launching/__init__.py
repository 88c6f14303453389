"""What to launch and what to expect: the scenario catalogue, launch specs, expectations.

Must not import: mlx, the inside (child) side, watching's runner, judging.
"""
