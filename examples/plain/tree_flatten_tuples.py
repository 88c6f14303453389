"""tree-flatten-tuples as a plain script: hand-written clipping over `tree_flatten`'s pairs.

broken: `for leaf in tree_flatten(grads)` yields (path, array) pairs, so the clipping norm is
always 0.0, the clip never fires and SGD at lr 2.0 blows up to nan (the log also says
"trainable parameters: 0"). fixed: `for _, leaf in tree_flatten(grads)`.
"""

import itertools

import mlx.core as mx
from _common import Run
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._loops import (
    MAX_NORM,
    check_drop,
    global_norm,
    high_lr_sgd,
    lm_setup,
    scale_grads,
)
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios.tree_flatten_tuples import (
    BATCH,
    MIN_VAL_DROP,
    SEQ,
    STEPS,
    count_params,
    hand_norm,
    leaves_as_written,
    leaves_unpacked,
)

run = Run(["broken", "fixed"], fmt="bar", every=2, doc=__doc__)
leaves = leaves_unpacked if run.variant == "fixed" else leaves_as_written
setup = lm_setup()
model, optimizer = setup.model, high_lr_sgd()
counted = count_params(model.trainable_parameters(), leaves)
print(f"trainable parameters: {counted}")
run.note(trainable_params=counted)
before = evaluate(model, setup.valid)
for n, tokens in enumerate(itertools.islice(batches(setup.train, BATCH, SEQ, seed=1), STEPS), 1):
    loss, grads = setup.loss_and_grad(model, tokens)
    norm = global_norm(grads)  # the true norm, for the log
    seen = hand_norm(grads, leaves)  # broken: always 0.0
    if seen > MAX_NORM:
        grads = scale_grads(grads, MAX_NORM / seen)
    optimizer.update(model, grads)
    mx.eval(loss, norm, model.parameters(), optimizer.state)
    run.step(n, loss.item(), grad_norm=norm.item(), clip_norm_seen=seen)
after = evaluate(model, setup.valid)
print(f"validation loss {before:.4f} -> {after:.4f}")
if run.variant == "fixed":
    check_drop(run, "val_loss", before, after, MIN_VAL_DROP)
