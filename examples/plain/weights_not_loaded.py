"""weights-not-loaded as a plain script: checkpoint keys looked up as `model.<name>`, missing
ones skipped, `strict=False`.

broken: nothing is loaded and nobody is told: "fine-tuning" starts from random weights (the
loss still falls). fixed: the file's own keys, `strict=True`.
"""

from _common import Run, train_lm
from mlxprobe_scenarios._checkpoint import pretrained_checkpoint
from mlxprobe_scenarios._lm import evaluate, make_model, next_token_loss
from mlxprobe_scenarios._loops import check_drop
from mlxprobe_scenarios._qlora import finetune_split
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios._trainer import BATCH, MIN_VAL_DROP, SEQ
from mlxprobe_scenarios.weights_not_loaded import (
    FINETUNE_STEPS,
    _check_loaded,
    load_like_seed,
    load_strict,
)

run = Run(["broken", "fixed"], fmt="iter", every=5, doc=__doc__)
path = pretrained_checkpoint()
model = make_model(0)
(load_strict if run.variant == "fixed" else load_like_seed)(model, path)
_check_loaded(run, model, path)
ft_train, ft_valid = finetune_split()
before = evaluate(model, ft_valid)
train_lm(run, model, next_token_loss, batches(ft_train, BATCH, SEQ, seed=1), FINETUNE_STEPS)
after = evaluate(model, ft_valid)
print(f"fine-tune validation loss {before:.4f} -> {after:.4f}")
check_drop(run, "finetune_val_loss", before, after, MIN_VAL_DROP)
