"""Device memory of the watched tree, read from outside: NVIDIA GPUs through NVML.

Job: the sampler asks `DeviceMemory.used(pids)` with every sample; it answers the GPU memory
the tree's processes hold (bytes, summed over GPUs and processes), or None where it cannot
be known, and `status` says why in words for the evidence. NVML is the optional
`nvidia-ml-py` package (`import pynvml`); it is looked for once, on the first call, and read
at most every READ_EVERY_S (an NVML query costs ~0.1-1 ms; memory moves slower than steps).
Where the machine has no NVIDIA GPU (no /dev/nvidia* device, no `nvidia-smi`, no NVML
library: checked without importing pynvml) the status says "no NVIDIA GPU", not to install
a package that would find nothing.

On Apple silicon there is no separate device memory: MLX's buffers live in unified memory,
which the child's own counters (`mx_active`, every heartbeat) show; RSS shows them only in
part. In a container NVML may report host pids that do not match ours: then nothing of the
tree is found and `status` says so.

Must not import: mlx, the child side. Reads only.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
from types import ModuleType

READ_EVERY_S = 0.5
NOT_INSTALLED = "not sampled: nvidia-ml-py is not installed (pip install nvidia-ml-py)"
NO_GPU = "not sampled: no NVIDIA GPU"


LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                "/usr/lib", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib")
LD_CACHE = "/etc/ld.so.cache"


def nvidia_gpu_present() -> bool:
    """A device node, the driver's `nvidia-smi` or its NVML library (in the loader's cache,
    a usual folder or LD_LIBRARY_PATH): ~10 ms on a loaded 2-core machine, no import, no subprocess
    (`ctypes.util.find_library` runs a compiler when the library is absent: 225 ms)."""
    if glob.glob("/dev/nvidia[0-9]*") or shutil.which("nvidia-smi"):
        return True
    folders = [*LIBRARY_DIRS, *os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)]
    if any(glob.glob(os.path.join(f, "libnvidia-ml.so*")) for f in folders if f):
        return True
    try:
        with open(LD_CACHE, "rb") as cache:
            return b"libnvidia-ml.so" in cache.read()
    except OSError:
        return False


def load_nvml() -> tuple[ModuleType | None, str]:
    """(the initialised pynvml module, "") or (None, why not)."""
    if not nvidia_gpu_present():
        return None, NO_GPU
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None, NOT_INSTALLED
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception as exc:  # noqa: BLE001 - NVMLError and friends: no driver, no GPU
        return None, f"not sampled: NVML did not start ({exc})"
    if not count:
        return None, "not sampled: NVML sees no GPU"
    return pynvml, ""


class DeviceMemory:
    """GPU memory held by a set of processes; None (with `status`) where unknown."""

    def __init__(self, loader=load_nvml, clock=time.monotonic) -> None:  # noqa: ANN001
        self._loader, self._clock = loader, clock
        self._nvml: ModuleType | None = None
        self._tried = False
        self._last: tuple[float, int | None] | None = None
        self.status = "not sampled yet"
        self.seen_any = False  # a process of the tree ever held device memory

    def used(self, pids: list[int]) -> int | None:
        if not self._tried:
            self._tried = True
            self._nvml, why = self._loader()
            self.status = why or "sampled through NVML"
        if self._nvml is None:
            return None
        now = self._clock()
        if self._last is not None and now - self._last[0] < READ_EVERY_S:
            return self._last[1]
        value = self._read(set(pids))
        self._last = (now, value)
        return value

    def _read(self, pids: set[int]) -> int | None:
        nvml, total, found = self._nvml, 0, False
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                for proc in _processes(nvml, handle):
                    used = getattr(proc, "usedGpuMemory", None)
                    if proc.pid in pids and isinstance(used, int):
                        total, found = total + used, True
        except Exception as exc:  # noqa: BLE001 - a GPU fell off the bus mid-run: stop asking
            self._nvml, self.status = None, f"stopped: NVML failed ({exc})"
            return None
        if found:
            self.seen_any = True
            self.status = "sampled through NVML"
        elif not self.seen_any:
            self.status = ("sampled through NVML; no process of the tree held GPU memory "
                           "(CPU run, or NVML reports pids of another namespace)")
        return total if found else 0


def _processes(nvml: ModuleType, handle: object) -> list:
    """Compute processes (CUDA contexts) of one GPU; graphics ones where the API has them."""
    out = list(nvml.nvmlDeviceGetComputeRunningProcesses(handle))
    graphics = getattr(nvml, "nvmlDeviceGetGraphicsRunningProcesses", None)
    if graphics is not None:
        known = {p.pid for p in out}
        out += [p for p in graphics(handle) if p.pid not in known]
    return out
