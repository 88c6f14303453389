"""Signal: the program's own count of the parameters it trains, when that count is 0.

Job: training code that attaches adapters or freezes part of a model usually prints how many
parameters train (`LoRA params: 0 (0.00%)`, `Trainable parameters: 0.000% (0.000M/1.2M)`,
mlx-lm's own line). A last such statement of 0 is the program saying that what it meant to
train has no parameter: its adapters attached to nothing or its unfreeze missed. Where the
census agrees (no trainable weight matrix), a stage that still lowers its loss through the
vectors left trainable (norm gains, biases) is that accident, not a stage fitted on purpose
(`params.frozen_weights`' stand-down).

Measured over every kept corpus run at this signal's writing (1,597: the 1,497 runs of
fresh180-fresh277 and the 100 kept leak runs; 85 of them print such a count): a count of
trainable, LoRA or adapter parameters stated as 0 in two runs, both broken: fresh277
`weir_sluice_drafter` (a LoRA walk matching `nn.Linear` over a quantized model: "LoRA params: 0
(0.00%)", the norm gains then lowered the loss 7.66 -> 3.04) and fresh224
`tallgrass_dpo_refmodel_broken` ("Trainable parameters: 0", a crash). The correct runs that
print a zero count say something else: "trainable after freeze: 0 values" (fresh250
`waxseal_sigil_embedding`, a frozen denoiser while a token trains: no `param` word, and its
census's trained model has no frozen matrix), "zero-grad trainable tensors: 0" (no count of
parameters).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import re

from ..watching.facts import RawResult

# `LoRA params: 0`, `Trainable parameters: 0.000%`, `adapter parameters = 0`: the count right
# after the words, the last statement wins (a count printed before adapters are attached is
# followed by the count after)
STATED = re.compile(r"(?i)\b(?:trainable|lora|adapters?)\w*[ \t_]+param(?:eter)?s?[ \t]*[:=]"
                    r"[ \t]*(\d+(?:\.\d+)?)(?![\d.])")


def zero_line(raw: RawResult) -> str | None:
    """The program's last statement of how many parameters it trains, when it states 0."""
    lines = [ln for ln in (raw.stdout_tail or "").splitlines() if STATED.search(ln)]
    if not lines:
        return None
    last = lines[-1]
    return last.strip()[:160] if float(STATED.search(last).group(1)) == 0 else None
