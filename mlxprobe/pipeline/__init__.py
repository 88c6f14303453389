"""One launch end to end (launch -> runner -> raw facts -> classify -> report entry), and many
in parallel. The single path the CLI and the pytest plugin share.

Must not import: mlx, the inside side, reporters, commands.
"""
