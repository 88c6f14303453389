"""Errors the CLI and the pytest plugin turn into one clear line (exit code 2), never a traceback.

Must not import: anything of mlxprobe (every module may import this one), mlx.
"""


class UsageError(Exception):
    """Bad input from the user: unknown scenario, bad flag, unreadable or foreign file."""
