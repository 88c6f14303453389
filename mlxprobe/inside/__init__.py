"""What runs inside the watched process: the scenario child, the record writer, the bootstrap.

The only part of mlxprobe that may import mlx. Must not import: watching, judging, gating,
results, reporters, commands.
"""
