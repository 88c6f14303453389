"""Small-molecule graph VAE (set atom order, 9 heavy-atom slots).

Synthetic molecules: C/N/O/F trees grown atom by atom with valence limits,
plus an optional ring-closing bond. Encoder: slot one-hot + atom one-hot, two dense
message-passing rounds with a masked sum readout. Decoder: MLP -> atom-type logits per slot
(incl. "empty") and bond logits for the 36 upper-triangle pairs.

Cyclical KL annealing (3 cycles, beta restarts at 0), Adam with a linear
warm-up that starts at lr 0, a checkpoint written mid-run and the run resumed
from it with a freshly built model and optimizer.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SLOTS = 9
KINDS = ["C", "N", "O", "F"]
VALENCE = np.array([4, 3, 2, 1])
NTYPES = len(KINDS) + 1  # last class = empty slot
EMPTY = len(KINDS)
IU = np.triu_indices(SLOTS, 1)
NPAIRS = len(IU[0])
LATENT = 16

rng = np.random.default_rng(366)
mx.random.seed(366)


def grow_molecule():
    n = int(rng.integers(5, SLOTS + 1))
    kinds = [0]
    adj = np.zeros((SLOTS, SLOTS), dtype=np.float32)
    for i in range(1, n):
        free = [j for j in range(i) if adj[j].sum() < VALENCE[kinds[j]]]
        if not free:
            break
        # mostly extend the chain from the newest atom, sometimes branch
        parent = free[-1] if rng.random() < 0.7 else free[int(rng.integers(len(free)))]
        # halogen only as the last atom
        p = np.array([0.72, 0.12, 0.08, 0.08])
        if i < n - 1:
            p = np.array([0.8, 0.13, 0.07, 0.0])
        k = int(rng.choice(4, p=p / p.sum()))
        kinds.append(k)
        adj[parent, i] = adj[i, parent] = 1.0
    m = len(kinds)
    if m >= 5 and rng.random() < 0.3:
        cand = []
        for a in range(m):
            for b in range(a + 2, m):
                if adj[a, b] == 0 and adj[a].sum() < VALENCE[kinds[a]] and adj[b].sum() < VALENCE[kinds[b]]:
                    cand.append((a, b))
        if cand:
            a, b = cand[int(rng.integers(len(cand)))]
            adj[a, b] = adj[b, a] = 1.0
    types = np.full(SLOTS, EMPTY, dtype=np.int32)
    types[:m] = kinds
    return types, adj


def is_valid(types, adj):
    atoms = np.where(types != EMPTY)[0]
    if len(atoms) < 2:
        return False
    sub = adj[np.ix_(atoms, atoms)]
    deg = sub.sum(1)
    if np.any(deg > VALENCE[types[atoms]]):
        return False
    seen = {0}
    stack = [0]
    while stack:
        u = stack.pop()
        for v in np.where(sub[u] > 0)[0]:
            if v not in seen:
                seen.add(int(v))
                stack.append(int(v))
    return len(seen) == len(atoms)


def build(n):
    T = np.zeros((n, SLOTS), dtype=np.int32)
    A = np.zeros((n, SLOTS, SLOTS), dtype=np.float32)
    for i in range(n):
        T[i], A[i] = grow_molecule()
    return T, A


class Encoder(nn.Module):
    def __init__(self, hid=48):
        super().__init__()
        self.embed = nn.Linear(NTYPES + SLOTS, hid)
        self.self1 = nn.Linear(hid, hid)
        self.nb1 = nn.Linear(hid, hid)
        self.self2 = nn.Linear(hid, hid)
        self.nb2 = nn.Linear(hid, hid)
        self.mu = nn.Linear(hid, LATENT)
        self.logvar = nn.Linear(hid, LATENT)

    def __call__(self, onehot, adj, mask):
        h = self.embed(onehot) * mask
        h = nn.relu(self.self1(h) + self.nb1(adj @ h)) * mask
        h = nn.relu(self.self2(h) + self.nb2(adj @ h)) * mask
        g = h.sum(axis=1)
        return self.mu(g), self.logvar(g)


class Decoder(nn.Module):
    def __init__(self, hid=160):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(LATENT, hid), nn.SiLU(), nn.Linear(hid, hid), nn.SiLU())
        self.types = nn.Linear(hid, SLOTS * NTYPES)
        self.bonds = nn.Linear(hid, NPAIRS)

    def __call__(self, z):
        h = self.body(z)
        return self.types(h).reshape(-1, SLOTS, NTYPES), self.bonds(h)


class GraphVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.dec = Decoder()

    def __call__(self, types, adj, sample=True):
        onehot = (types[..., None] == mx.arange(NTYPES)).astype(mx.float32)
        slot = mx.broadcast_to(mx.eye(SLOTS), (types.shape[0], SLOTS, SLOTS))
        onehot = mx.concatenate([onehot, slot], axis=-1)
        mask = (types != EMPTY).astype(mx.float32)[..., None]
        mu, logvar = self.enc(onehot, adj, mask)
        z = mu
        if sample:
            z = mu + mx.exp(0.5 * logvar) * mx.random.normal(mu.shape)
        tl, bl = self.dec(z)
        return tl, bl, mu, logvar


IU_MX = (mx.array(IU[0]), mx.array(IU[1]))


def terms(model, types, adj, sample=True):
    tl, bl, mu, logvar = model(types, adj, sample)
    bond_tgt = adj[:, IU_MX[0], IU_MX[1]]
    rec_t = nn.losses.cross_entropy(tl, types, reduction="mean") * SLOTS
    rec_b = nn.losses.binary_cross_entropy(bl, bond_tgt, with_logits=True, reduction="mean") * NPAIRS
    kl = (-0.5 * (1 + logvar - mu * mu - mx.exp(logvar))).sum(axis=1).mean()
    return rec_t + rec_b, kl, tl, bl


def loss_fn(model, types, adj, beta):
    rec, kl, _, _ = terms(model, types, adj)
    return rec + beta * kl, (rec, kl)


def decode_graphs(tl, bl):
    t = np.array(mx.argmax(tl, axis=-1))
    b = np.array(bl) > 0
    out = []
    for i in range(t.shape[0]):
        a = np.zeros((SLOTS, SLOTS), dtype=np.float32)
        a[IU] = b[i]
        a = a + a.T
        empty = t[i] == EMPTY
        a[empty, :] = 0
        a[:, empty] = 0
        out.append((t[i], a))
    return out


def evaluate(model, Tv, Av):
    types, adj = mx.array(Tv), mx.array(Av)
    rec, kl, tl, bl = terms(model, types, adj, sample=False)
    pred_t = np.array(mx.argmax(tl, axis=-1))
    pred_b = np.array(bl) > 0
    tgt_b = Av[:, IU[0], IU[1]] > 0
    atom_acc = float((pred_t == Tv).mean())
    bond_acc = float((pred_b == tgt_b).mean())
    exact = float(np.mean(np.all(pred_t == Tv, axis=1) & np.all(pred_b == tgt_b, axis=1)))
    return float(rec.item()), float(kl.item()), atom_acc, bond_acc, exact


def prior_validity(model, n=400):
    z = mx.random.normal((n, LATENT))
    tl, bl = model.dec(z)
    graphs = decode_graphs(tl, bl)
    return 100.0 * np.mean([is_valid(t, a) for t, a in graphs])


def main():
    t0 = time.time()
    Ttr, Atr = build(4000)
    Tv, Av = build(500)
    tgt_b = Av[:, IU[0], IU[1]] > 0
    nobond_acc = float((~tgt_b).mean())
    # reference: random graphs with the training atom marginal and bond density
    kind_freq = np.bincount(Ttr.ravel(), minlength=NTYPES) / Ttr.size
    density = float(Atr[:, IU[0], IU[1]].mean())
    ref_valid = []
    for _ in range(400):
        t = rng.choice(NTYPES, size=SLOTS, p=kind_freq).astype(np.int32)
        a = np.zeros((SLOTS, SLOTS), dtype=np.float32)
        a[IU] = rng.random(NPAIRS) < density
        a = a + a.T
        ref_valid.append(is_valid(t, a))
    ref_valid = 100.0 * np.mean(ref_valid)
    print(f"molecules: train {len(Ttr)}  val {len(Tv)}  mean heavy atoms {np.mean((Ttr != EMPTY).sum(1)):.2f}  "
          f"rings {100*np.mean(Atr.sum((1,2))/2 >= (Ttr != EMPTY).sum(1)):.1f}%")
    print(f"reference: all-no-bond bond acc {nobond_acc:.3f} | random-graph validity {ref_valid:.1f}%")

    steps, cycles, warm = 900, 3, 60
    cyc_len = steps // cycles
    lr_sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, steps - warm, 1e-4)], [warm]
    )

    def beta_at(s):
        pos = s % cyc_len
        return 0.1 * min(1.0, pos / (0.5 * cyc_len))

    model = GraphVAE()
    opt = optim.Adam(learning_rate=lr_sched)
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)

    ckpt_dir = tempfile.mkdtemp("_molgvae")
    resume_at = 450
    bs = 64
    order = rng.permutation(len(Ttr))
    ptr = 0
    win = []
    print(f"{'step':>5} {'lr':>9} {'beta':>5} {'obj':>8} {'recon':>7} {'kl':>6} | "
          f"{'v_recon':>7} {'atom%':>6} {'bond%':>6} {'exact%':>6}")
    step = 0
    while step < steps:
        if step % cyc_len == 0:
            print(f"-- KL cycle {step // cyc_len + 1}/{cycles}: beta back to 0 --")
        if ptr + bs > len(order):
            order = rng.permutation(len(Ttr))
            ptr = 0
        idx = order[ptr:ptr + bs]
        ptr += bs
        beta = beta_at(step)
        lr_now = float(lr_sched(opt.step).item())
        (obj, (rec, kl)), grads = vg(model, mx.array(Ttr[idx]), mx.array(Atr[idx]), mx.array(beta))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj)
        win.append((obj.item(), rec.item(), kl.item()))
        step += 1
        if step == 1 or step % 50 == 0:
            o, r, k = np.mean(win, axis=0)
            win = []
            vr, vk, aa, ba, ex = evaluate(model, Tv, Av)
            print(f"{step:5d} {lr_now:9.2e} {beta:5.2f} {o:8.3f} {r:7.3f} {k:6.2f} | "
                  f"{vr:7.3f} {100*aa:6.1f} {100*ba:6.1f} {100*ex:6.1f}")
        if step % cyc_len == 0:
            print(f"   prior samples valid: {prior_validity(model):.1f}%  (random-graph reference {ref_valid:.1f}%)")
        if step == resume_at:
            before = evaluate(model, Tv, Av)[0]
            model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            np.save(os.path.join(ckpt_dir, "rng.npy"), np.array([ptr]))
            # new process-like restart: fresh objects, then load
            model = GraphVAE()
            model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
            opt = optim.Adam(learning_rate=lr_sched)
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            vg = nn.value_and_grad(model, loss_fn)
            mx.eval(model.parameters(), opt.state)
            after = evaluate(model, Tv, Av)[0]
            print(f"   checkpoint at step {step} reloaded: opt step {int(opt.step.item())}, "
                  f"val recon {before:.4f} -> {after:.4f}")

    vr, vk, aa, ba, ex = evaluate(model, Tv, Av)
    print(f"final: val recon {vr:.3f}  kl {vk:.2f}  atom {100*aa:.1f}%  bond {100*ba:.1f}% "
          f"(no-bond ref {100*nobond_acc:.1f}%)  exact {100*ex:.1f}%")
    print(f"final prior validity {prior_validity(model, 1000):.1f}% vs random-graph {ref_valid:.1f}%  "
          f"[{time.time()-t0:.1f}s]")


if __name__ == "__main__":
    main()
