"""What judges raw facts: the pure `classify`, its hints and statistics.

No I/O, no clock, no processes. Must not import: mlx, watching's runner/sampler, reporters.
"""
