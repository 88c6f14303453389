# Tiny ORPO preference tuning of a bigram-style "policy" LM (mlx-lm-lora style trainer loop).
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V, P, R, N, BS, STEPS, BETA = 32, 12, 2, 256, 32, 300, 0.5
rng = np.random.default_rng(7)


def make_pairs(n):
    prompts = rng.integers(4, V, size=(n, P))
    key = prompts[:, -1]
    chosen_resp = np.stack([(key * 5 + 1) % V, (key * 7 + 3) % V], 1)
    rejected_resp = np.stack([(key * 11 + 2) % V, (key * 13 + 5) % V], 1)
    same = chosen_resp[:, 0] == rejected_resp[:, 0]
    rejected_resp[same, 0] = (rejected_resp[same, 0] + 1) % V
    chosen = np.concatenate([prompts, chosen_resp], 1)
    rejected = np.concatenate([prompts, rejected_resp], 1)
    return chosen.astype(np.int32), rejected.astype(np.int32)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 48)
        self.mlp = nn.Sequential(nn.Linear(48, 96), nn.GELU(), nn.Linear(96, V))

    def __call__(self, x):
        return self.mlp(self.emb(x))


def build_masks(tokens, prompt_len):
    L = tokens.shape[1]
    pos = np.arange(L)[None, :]
    mask = np.ones_like(tokens, dtype=np.float32)  # every non-padding token
    return mx.array(mask)


def get_logps(model, tokens, mask):
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    logits = model(inputs)
    log_probs = -nn.losses.cross_entropy(logits, targets, reduction="none")
    mask = mask[:, :-1]
    return (log_probs * mask).sum(-1) / mx.maximum(mask.sum(-1), 1.0)


def log1mexp(lp):
    lp = mx.minimum(lp, -1e-7)
    return mx.where(lp > -math.log(2), mx.log(-mx.expm1(lp)), mx.log1p(-mx.exp(lp)))


def orpo_loss(model, chosen, rejected, cmask, rmask):
    c = get_logps(model, chosen, cmask)
    r = get_logps(model, rejected, rmask)
    log_odds = (c - r) - (log1mexp(c) - log1mexp(r))
    loss = -c - BETA * nn.log_sigmoid(log_odds)
    acc = mx.mean((c > r).astype(mx.float32))
    margin = mx.mean(BETA * (c - r))
    return mx.mean(loss), (acc, margin, mx.mean(c))


mx.random.seed(7)
model = TinyLM()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, orpo_loss)
chosen_np, rejected_np = make_pairs(N)

print(f"ORPO | pairs={N} prompt_len={P} resp_len={R} beta={BETA}")
for step in range(1, STEPS + 1):
    idx = rng.integers(0, N, size=BS)
    ch, rj = mx.array(chosen_np[idx]), mx.array(rejected_np[idx])
    cm, rm = build_masks(chosen_np[idx], P), build_masks(rejected_np[idx], P)
    (loss, (acc, margin, cl)), grads = step_fn(model, ch, rj, cm, rm)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc, margin)
    if step % 25 == 0 or step == 1:
        print(f"it {step:4d} | loss {loss.item():.4f} | rewards/accuracies {acc.item():.3f} "
              f"| rewards/margins {margin.item():.4f} | logps/chosen {cl.item():.3f}")
print("done")
