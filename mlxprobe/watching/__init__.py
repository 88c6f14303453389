"""What watches a launched process: runner, sampler, record reader, stacks, deadlines, cleanup.

Produces raw facts (`watching.facts`); judges nothing. Must not import: mlx, the inside side,
judging, gating, reporters.
"""
