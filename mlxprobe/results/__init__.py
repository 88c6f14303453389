"""Report files: building, writing and loading the JSON report, the environment fingerprint.

Must not import: mlx, the inside side, reporters, commands.
"""
