"""Is the process compiling? Native stack text in, the compiler frame found (or None) out.

Job: a GPU backend compiles kernels inside the process, with no compiler child for the
sampler to see: MLX's CUDA backend through NVRTC (measured in issue 13, a QLoRA step stuck
30 s in `nvrtcCompileProgram` <- `mlx::core::cu::JitModule` <- `qmm_naive` <-
`QuantizedMatmul::eval_gpu` <- `mlx::core::eval`), then loads the module (`cuModuleLoad*`,
ptxas for PTX); Metal builds libraries from source (`newLibraryWithSource`, the
`MTLCompilerService` helper) and pipeline states. The CPU backend's compiler is a child
(g++, cc1plus: the sampler sees it), its parent waits in `JitCompiler`. So on a missed
deadline the runner reads the native stacks (`py-spy dump --native`, macOS `sample`) and a
frame below matches: compilation, never a hang.

Pure text: no processes, no clock. Must not import: mlx, psutil.
"""

from __future__ import annotations

import re

# (what the evidence calls it, a regex on a frame line); the first that matches is named
FRAMES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in (
        ("nvrtcCompileProgram", r"\bnvrtc[A-Z]\w*|libnvrtc"),
        ("ptxas", r"\bptxas\b|__ptx\w*[Cc]ompile|nvPTXCompiler"),
        ("cu::JitModule", r"mlx::core::cu::JitModule"),
        ("cuModuleLoad", r"\bcuModuleLoad\w*|\bcuLink(Create|AddData|Complete)\w*"),
        ("newLibraryWithSource", r"newLibraryWithSource"),
        ("MTLCompiler", r"MTLCompiler\w*|\bMTLLibraryBuilder|AGXMetal\w*Compil"),
        ("newComputePipelineState", r"newComputePipelineState\w*"),
        ("JitCompiler", r"mlx::core::JitCompiler"),
        ("cc1plus", r"\bcc1plus\b|\bcc1\b"),
        # `mx.compile` tracing and simplifying a graph (measured on an H100, cold: the
        # upstream-compile-last-batch guard sat 1.5 s in `compile_replace` between NVRTC
        # looks): the graph compiler, not a kernel's evaluation
        ("mx.compile", r"mlx::core::detail::compile(_replace|_simplify|_trace|_fuse)?\b"),
    ))


def compiler_frame(native: str) -> str | None:
    """The first compiler frame found in native stack text (py-spy or `sample` format);
    None when no thread is compiling (or the text holds no stacks: an error message)."""
    for line in native.splitlines():
        text = line.strip()
        if not text or text.startswith("("):  # "(py-spy not installed ...)": no stacks
            continue
        for name, pattern in FRAMES:
            if pattern.search(text):
                return name
    return None
