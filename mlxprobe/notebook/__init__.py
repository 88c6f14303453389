"""mlxprobe in a Jupyter notebook: `%load_ext mlxprobe`, then `%%mlxprobe` on a cell or
`%mlxprobe on` for every cell (`magic`), watched by a process outside the kernel (`watcher`).
Must not import: mlx (the kernel side imports the agent, which hooks mlx's import)."""
