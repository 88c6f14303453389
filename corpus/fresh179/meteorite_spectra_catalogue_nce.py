# Dual-encoder retrieval: match a meteorite thin-section reflectance spectrum to its catalogue class tokens.
# Stage "easy" uses random in-batch negatives, stage "hard" draws whole clans (chondrite groups) per batch.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_CLANS, PER_CLAN = 8, 6
N_CLASSES = N_CLANS * PER_CLAN
LATENT, BANDS, VOCAB, TOK_PER = 10, 18, 96, 5

clan_centre = mx.random.normal((N_CLANS, LATENT)) * 1.6
class_z = mx.repeat(clan_centre, PER_CLAN, axis=0) + 0.55 * mx.random.normal((N_CLASSES, LATENT))
mix = mx.random.normal((LATENT, BANDS)) / math.sqrt(LATENT)
# catalogue tokens: 2 clan tokens shared inside the clan, 3 class-specific tokens
clan_tok = mx.random.randint(0, VOCAB, (N_CLANS, 2))
class_tok = mx.random.randint(0, VOCAB, (N_CLASSES, 3))
label_tokens = mx.concatenate([mx.repeat(clan_tok, PER_CLAN, axis=0), class_tok], axis=1)


def spectra(class_ids, noise=0.45):
    z = class_z[class_ids]
    x = mx.tanh(z @ mix) + noise * mx.random.normal((class_ids.shape[0], BANDS))
    return x


class CatalogueTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, 24)   # frozen on purpose: pretrained-style lookup
        self.proj = nn.Linear(24, 32)

    def __call__(self, toks):
        return self.proj(self.tok(toks).mean(axis=1))


class SpectrumTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(BANDS, 64)
        self.l2 = nn.Linear(64, 32)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.spec = SpectrumTower()
        self.label = CatalogueTower()
        self.log_inv_temp = mx.array(math.log(1 / 0.2))

    def sims(self, x, toks):
        a = self.spec(x)
        b = self.label(toks)
        a = a / mx.linalg.norm(a, axis=1, keepdims=True)
        b = b / mx.linalg.norm(b, axis=1, keepdims=True)
        return mx.exp(self.log_inv_temp) * (a @ b.T)


model = DualEncoder()
model.label.tok.freeze()
mx.eval(model.parameters())


def info_nce(model, x, toks):
    s = model.sims(x, toks)
    tgt = mx.arange(s.shape[0])
    return 0.5 * (nn.losses.cross_entropy(s, tgt, reduction="mean")
                  + nn.losses.cross_entropy(s.T, tgt, reduction="mean"))


loss_and_grad = nn.value_and_grad(model, info_nce)

STEPS = {"easy": 220, "hard": 220}
WARM = 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM),
     optim.cosine_decay(3e-3, STEPS["easy"] + STEPS["hard"] - WARM, 2e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

eval_classes = mx.concatenate([mx.arange(N_CLASSES)] * 3)
eval_x = spectra(eval_classes)
mx.eval(eval_x)


def recall():
    s = model.sims(eval_x, label_tokens)
    rank_of_true = (s > mx.take_along_axis(s, eval_classes[:, None], axis=1)).sum(axis=1)
    r1 = (rank_of_true < 1).mean().item()
    r5 = (rank_of_true < 5).mean().item()
    return r1, r5


# audit: every trainable leaf gets gradient signal
from mlx.utils import tree_flatten
b0 = mx.random.permutation(N_CLASSES)[:16]
_, g0 = loss_and_grad(model, spectra(b0), label_tokens[b0])
norms = {k: round(mx.linalg.norm(v.reshape(-1)).item(), 5) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "trainable": len(norms),
                  "min_norm": min(norms.values()), "frozen": "label.tok.weight"}))

for stage in ("easy", "hard"):
    for step in range(1, STEPS[stage] + 1):
        if stage == "easy":
            ids = mx.random.permutation(N_CLASSES)[:16]
        else:
            g = mx.random.permutation(N_CLANS)[:3]
            ids = (g[:, None] * PER_CLAN + mx.arange(PER_CLAN)[None, :]).reshape(-1)
        loss, grads = loss_and_grad(model, spectra(ids), label_tokens[ids])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 44 == 0:
            r1, r5 = recall()
            print(json.dumps({"stage": stage, "step": step, "nce": round(loss.item(), 4),
                              "lr": float(f"{opt.learning_rate.item():.2e}"),
                              "R@1": round(100 * r1, 1), "R@5": round(100 * r5, 1),
                              "chance_R@1": round(100 / N_CLASSES, 1),
                              "temp": round(math.exp(-model.log_inv_temp.item()), 3)}))

r1, r5 = recall()
print(json.dumps({"event": "final", "R@1_pct": round(100 * r1, 1), "R@5_pct": round(100 * r5, 1),
                  "chance_R@5_pct": round(500 / N_CLASSES, 1)}))
