# Substation relay panel: 10 protection relays, each tripped (1) or closed (0)
# in a snapshot. Snapshots come from three fault scenarios plus flicker. An
# MLP energy over the 10 bits is fitted by contrastive divergence whose
# negatives come from persistent Metropolis chains run at four temperatures
# with replica swaps. 2^10 states, so the exact held-out NLL is printed too.
# Half-way the run is checkpointed to disk and resumed in a fresh model.
import os
import shutil
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

D = 10
rng = np.random.default_rng(5)
mx.random.seed(5)
protos = np.array([[1, 1, 1, 0, 0, 0, 0, 0, 1, 0],
                   [0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
                   [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]], dtype=np.float32)
weights = np.array([0.5, 0.3, 0.2])
flip = 0.06
ALL = ((np.arange(2 ** D)[:, None] >> np.arange(D)) & 1).astype(np.float32)
ham = np.abs(ALL[:, None, :] - protos[None]).sum(-1)
p_true = (weights * flip ** ham.astype(np.float64) * (1 - flip) ** (D - ham.astype(np.float64))).sum(1)
p_true = p_true / p_true.sum()


def sample(n):
    return ALL[rng.choice(2 ** D, size=n, p=p_true)]


train, held = sample(4000), sample(1000)
held_idx = (held * (1 << np.arange(D))).sum(1).astype(int)
true_nll = -np.log(p_true[held_idx]).mean()


class Energy(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(),
                                 nn.Linear(48, 1))

    def __call__(self, v):
        return self.net(2 * v - 1).squeeze(-1)


def exact_nll(model):
    e = model(mx.array(ALL))
    logz = mx.logsumexp(-e)
    return (e[mx.array(held_idx)] + logz).mean().item()


BETAS = mx.array([1.0, 0.7, 0.5, 0.35])
T, C = 4, 48


def mcmc(model, chains, sweeps=10):
    """Single-bit Metropolis moves at every temperature, then adjacent swaps."""
    e = model(chains.reshape(-1, D)).reshape(T, C)
    for _ in range(sweeps):
        site = mx.random.randint(0, D, (T, C))
        mask = mx.arange(D)[None, None, :] == site[..., None]
        prop = mx.where(mask, 1 - chains, chains)
        e_new = model(prop.reshape(-1, D)).reshape(T, C)
        acc = mx.random.uniform(shape=(T, C)) < mx.exp(-BETAS[:, None] * (e_new - e))
        chains = mx.where(acc[..., None], prop, chains)
        e = mx.where(acc, e_new, e)
    swaps = []
    for i in range(T - 1):
        a = mx.exp((BETAS[i] - BETAS[i + 1]) * (e[i] - e[i + 1]))
        ok = mx.random.uniform(shape=(C,)) < a
        ci = mx.where(ok[:, None], chains[i + 1], chains[i])
        cj = mx.where(ok[:, None], chains[i], chains[i + 1])
        ei = mx.where(ok, e[i + 1], e[i])
        ej = mx.where(ok, e[i], e[i + 1])
        chains = mx.concatenate([chains[:i], ci[None], cj[None], chains[i + 2:]], 0)
        e = mx.concatenate([e[:i], ei[None], ej[None], e[i + 2:]], 0)
        swaps.append(ok.astype(mx.float32).mean())
    return chains, mx.stack(swaps)


def cd_loss(model, v_data, v_neg):
    ed, en = model(v_data), model(mx.stop_gradient(v_neg))
    return ed.mean() - en.mean() + 0.01 * ((ed ** 2).mean() + (en ** 2).mean())


def run(model, opt, chains, start, stop, tag):
    grad_fn = nn.value_and_grad(model, cd_loss)
    for step in range(start, stop):
        chains, swaps = mcmc(model, chains)
        idx = rng.integers(0, len(train), size=64)
        loss, g = grad_fn(model, mx.array(train[idx]), chains[0])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, chains, loss, swaps)
        if step % 50 == 0 or step == stop - 1:
            sw = " ".join(f"{s:.2f}" for s in swaps.tolist())
            print(f"{tag} step={step:4d} cd_gap={loss.item():+.4f} heldout_nll={exact_nll(model):.4f} "
                  f"swap_acc=[{sw}]", flush=True)
    return chains


print(f"relays={D} train={len(train)} held={len(held)} uniform_nll={D * np.log(2):.4f} "
      f"true_model_nll={true_nll:.4f}")
model = Energy()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3, betas=[0.5, 0.999])
chains = (mx.random.uniform(shape=(T, C, D)) < 0.5).astype(mx.float32)
chains = run(model, opt, chains, 0, 300, "phase1")

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "energy.safetensors"))
mx.savez(os.path.join(ckpt, "opt.npz"), **dict(tree_flatten(opt.state)))
mx.savez(os.path.join(ckpt, "chains.npz"), chains=chains)
print(f"checkpoint written to {ckpt} (weights, optimizer state, {T}x{C} chains)")

model2 = Energy()
model2.load_weights(os.path.join(ckpt, "energy.safetensors"))
opt2 = optim.Adam(learning_rate=3e-3, betas=[0.5, 0.999])
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.npz")).items()))
chains2 = mx.load(os.path.join(ckpt, "chains.npz"))["chains"]
print(f"resumed: heldout_nll={exact_nll(model2):.4f} (same as before the save)")
run(model2, opt2, chains2, 300, 600, "phase2")
final = exact_nll(model2)
print(f"final heldout_nll={final:.4f}  uniform={D * np.log(2):.4f}  true_model={true_nll:.4f}  "
      f"gap_to_true={final - true_nll:.4f} nats")
shutil.rmtree(ckpt)
