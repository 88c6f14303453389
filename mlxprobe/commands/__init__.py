"""CLI subcommands, one module each: NAME, HELP, add_arguments(parser), run(args) -> exit code.

Register a new one in `mlxprobe.cli.COMMANDS`. Must not import: mlx, the child side.
"""
