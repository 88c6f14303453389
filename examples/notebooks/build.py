"""Notebooks modelled on the source report's QLoRA notebook (a cell frozen at step 0), for
`mlxprobe watch -- jupyter nbconvert --to notebook --execute NB.ipynb`:

- qlora_fixed.ipynb: the QLoRA loop with the report's fixes (`nn.value_and_grad`, labels
  shifted, the accumulated gradient averaged, one eval a step): pass.
- qlora_broken.ipynb: the notebook's own `mx.value_and_grad(loss_fn)` on a 4-bit model:
  RuntimeError at the first step, raised in cell 2 (the kernel lives on).
- lazy_backlog.ipynb: a cell whose loop updates without ever evaluating, then prints its
  first loss: no output for a long time while the kernel computes the backlog (step 2's
  hang, in a notebook).

Tiny models on real MLX (`mlxprobe_scenarios`), no mlxprobe import. `python build.py` writes
them beside this file; tests call `notebook(name)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

QLORA_SETUP = '''import mlx.core as mx
{nn}import mlx.optimizers as optim
from mlx.utils import tree_map
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._qlora import finetune_split, make_qlora_model
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios.qlora_notebook import (
    ACCUMULATION,
    BATCH,
    LR,
    MICRO_STEPS,
    SEQ,
    {loss},
)

model = make_qlora_model()
train, valid = finetune_split()
before = evaluate(model, valid)
print(f"validation loss before: {{before:.4f}}")'''

QLORA_LOOP = '''optimizer = optim.AdamW(learning_rate=LR)
grad_fn = {grad}
accumulated, count = None, 0
for n, input_ids in zip(range(1, MICRO_STEPS + 1), batches(train, BATCH, SEQ, seed=1)):
    loss_val, grads = grad_fn(model, input_ids)
    accumulated = grads if accumulated is None else tree_map(mx.add, accumulated, grads)
    count += 1
    mx.eval(loss_val)
    if count >= ACCUMULATION:
        optimizer.update(model, tree_map(lambda g: g / ACCUMULATION, accumulated))
        mx.eval(model)
        accumulated, count = None, 0
    if n == 1 or n % 5 == 0:
        print(f"Step {{n}}: loss = {{float(loss_val):.4f}}")'''

QLORA_CHECK = '''after = evaluate(model, valid)
print(f"validation loss {before:.4f} -> {after:.4f}")'''

LAZY_SETUP = '''import mlx.nn as nn
import mlx.optimizers as optim
from mlxprobe_scenarios._lm import make_model, next_token_loss
from mlxprobe_scenarios._text import batches, split
from mlxprobe_scenarios.step2_hang import BATCH, LOG_EVERY, LR, SEQ

model = make_model(0)
optimizer = optim.AdamW(learning_rate=LR)
train, valid = split()
loss_and_grad = nn.value_and_grad(model, next_token_loss)'''

LAZY_LOOP = '''for n, tokens in enumerate(batches(train, BATCH, SEQ, seed=1), start=1):
    loss, grads = loss_and_grad(model, tokens)
    optimizer.update(model, grads)  # BUG: nothing evaluates parameters or optimizer state
    if n % LOG_EVERY == 0:
        print(f"Step {n}: loss = {loss.item():.4f}")  # the whole backlog runs here
        break'''


def notebook(name: str) -> nbformat.NotebookNode:
    cells = {
        "qlora_fixed": [QLORA_SETUP.format(nn="import mlx.nn as nn\n", loss="shifted_loss"),
                        QLORA_LOOP.format(grad="nn.value_and_grad(model, shifted_loss)"),
                        QLORA_CHECK],
        "qlora_broken": [QLORA_SETUP.format(nn="", loss="notebook_loss"),
                         QLORA_LOOP.format(grad="mx.value_and_grad(notebook_loss)"),
                         QLORA_CHECK],
        "lazy_backlog": [LAZY_SETUP, LAZY_LOOP],
    }[name]
    title = new_markdown_cell(f"# {name} (mlxprobe's notebook examples: see build.py)")
    nb = new_notebook(cells=[title, *(new_code_cell(c) for c in cells)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


NAMES = ("qlora_fixed", "qlora_broken", "lazy_backlog")

if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    for name in NAMES:
        nbformat.write(notebook(name), folder / f"{name}.ipynb")
