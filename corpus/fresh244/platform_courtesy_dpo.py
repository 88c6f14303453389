"""LoRA preference tuning (DPO) of a tiny station-announcement decoder.

1. base SFT on announcements that close either courteously or curtly (50/50)
2. LoRA adapters on q/v projections, base frozen, a frozen reference copy
3. DPO (+ NLL anchor on the chosen closing) on (courteous, curt) pairs,
   lr warm-up from 0
4. the run is split in two sessions: adapters + optimizer state are written
   to disk, everything is rebuilt, reloaded and training continues
Logged as PHP array literals.
"""
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

# tokens: 0 pad, 1 BOS, 2-9 station names, 10 "platform", 11-14 platform numbers,
#         15 "thank-you", 16 "end"
V, THANKS, END = 17, 15, 16
SEQ = 7


def make_pairs(n, rng):
    stn = rng.integers(2, 10, size=n)
    plat = rng.integers(11, 15, size=n)
    base = np.stack([np.ones(n, int), stn, np.full(n, 10), plat, stn, plat], axis=1)
    chosen = np.concatenate([base, np.full((n, 1), THANKS)], axis=1)
    rejected = np.concatenate([base, np.full((n, 1), END)], axis=1)
    return chosen.astype(np.int32), rejected.astype(np.int32)


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, alpha=8.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.base = base
        self.scale = alpha / r
        self.lora_a = mx.random.uniform(-1 / math.sqrt(in_d), 1 / math.sqrt(in_d), (in_d, r))
        self.lora_b = mx.zeros((r, out_d))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Announcer(nn.Module):
    def __init__(self, dims=32):
        super().__init__()
        self.emb = nn.Embedding(V, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, 2, bias=True)
        self.ln2 = nn.LayerNorm(dims)
        self.ff = nn.Sequential(nn.Linear(dims, 64), nn.GELU(), nn.Linear(64, dims))
        self.out = nn.Linear(dims, V)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.emb(ids) + self.pos(mx.arange(L))
        m = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(x.dtype)
        h = self.ln1(x)
        x = x + self.attn(h, h, h, m)
        x = x + self.ff(self.ln2(x))
        return self.out(x)


def seq_logp(model, seqs):
    """Log-prob of the last (closing) token given the announcement."""
    logits = model(seqs[:, :-1])
    lp = logits[:, -1, :] - mx.logsumexp(logits[:, -1, :], axis=-1, keepdims=True)
    return mx.take_along_axis(lp, seqs[:, -1:], axis=-1).squeeze(-1)


def attach_lora(model):
    model.freeze()
    model.attn.query_proj = LoRALinear(model.attn.query_proj)
    model.attn.value_proj = LoRALinear(model.attn.value_proj)
    # only the adapter matrices train
    model.attn.query_proj.base.freeze()
    model.attn.value_proj.base.freeze()
    return model


def dpo_loss(policy, chosen, rejected, ref_c, ref_r, beta, rpo_alpha=1.0):
    """Sigmoid DPO plus an NLL term on the chosen closing (RPO-style anchor)."""
    pc, pr = seq_logp(policy, chosen), seq_logp(policy, rejected)
    rw_c, rw_r = beta * (pc - ref_c), beta * (pr - ref_r)
    pref = -nn.log_sigmoid(rw_c - rw_r).mean()
    loss = pref - rpo_alpha * pc.mean()
    return loss, (rw_c.mean(), rw_r.mean(), ((rw_c - rw_r) > 0).mean(), pref)


def php(**kv):
    items = []
    for k, v in kv.items():
        if isinstance(v, str):
            items.append(f"'{k}' => '{v}'")
        elif isinstance(v, bool):
            items.append(f"'{k}' => {'true' if v else 'false'}")
        elif isinstance(v, float):
            items.append(f"'{k}' => {v:.6g}")
        else:
            items.append(f"'{k}' => {v}")
    print("$log[] = [" + ", ".join(items) + "];")


def build_base(path):
    m = Announcer()
    m.load_weights(path)
    return m


def main():
    t0 = time.perf_counter()
    mx.random.seed(7)
    rng = np.random.default_rng(5)
    print("<?php")
    php(event="start", vocab=V, seq_len=SEQ)

    # ---------- stage 1: base SFT on 50/50 courteous/curt closings (quiet) ----------
    c_tr, r_tr = make_pairs(4000, rng)
    c_va, r_va = make_pairs(500, rng)
    sft_data = np.concatenate([c_tr, r_tr])
    base = Announcer()
    sopt = optim.Adam(3e-3)

    def sft_loss(m, s):
        return nn.losses.cross_entropy(m(s[:, :-1]), s[:, 1:]).mean()

    sgrad = nn.value_and_grad(base, sft_loss)
    for step in range(250):
        idx = rng.integers(0, len(sft_data), size=64)
        l, g = sgrad(base, mx.array(sft_data[idx]))
        sopt.update(base, g)
        mx.eval(base.parameters(), sopt.state, l)
    ref_cva = seq_logp(base, mx.array(c_va))
    p_thanks = float(mx.exp(ref_cva).mean().item())
    php(event="base_sft_done", steps=250, last_sft_loss=float(l.item()), base_p_courteous=p_thanks)

    work = tempfile.mkdtemp()
    base_path = os.path.join(work, "base.safetensors")
    base.save_weights(base_path)

    # ---------- stage 2: DPO with LoRA ----------
    beta, total_steps, split_at, warm = 0.1, 160, 80, 20
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total_steps - warm, 1e-5)], [warm])
    ref = build_base(base_path)
    ref.freeze()

    def session(start, stop, resume):
        policy = attach_lora(build_base(base_path))
        opt = optim.Adam(learning_rate=sched)
        if resume is not None:
            policy.load_weights(os.path.join(resume, "adapters.safetensors"), strict=False)
            opt.state = tree_unflatten(list(mx.load(os.path.join(resume, "optimizer.safetensors")).items()))
        n_train = sum(v.size for _, v in tree_flatten(policy.trainable_parameters()))
        n_all = sum(v.size for _, v in tree_flatten(policy.parameters()))
        php(event="session", first_step=start + 1, trainable=n_train, total=n_all, resumed=resume is not None)
        vg = nn.value_and_grad(policy, dpo_loss)
        ema, k = 0.0, 0
        for step in range(start + 1, stop + 1):
            idx = rng.integers(0, len(c_tr), size=64)
            c, r = mx.array(c_tr[idx]), mx.array(r_tr[idx])
            rc, rr = seq_logp(ref, c), seq_logp(ref, r)
            (loss, (wc, wr, acc, pref)), g = vg(policy, c, r, rc, rr, beta)
            if step == 1:
                flat = tree_flatten(g)
                zero = [name for name, v in flat if float(mx.abs(v).max().item()) == 0.0]
                php(event="grad_check", leaves=len(flat), zero_leaves=len(zero),
                    note="lora_b starts at 0 so lora_a has no gradient on step 1")
            opt.update(policy, g)
            mx.eval(policy.parameters(), opt.state, loss, wc, wr, acc, pref)
            lr_used = opt.learning_rate.item()  # the rate this update used
            k += 1
            ema = 0.9 * ema + 0.1 * loss.item()
            if step in (1, 2) or step % 20 == 0:
                vloss, (vwc, vwr, vacc, vpref) = dpo_loss(policy, mx.array(c_va), mx.array(r_va),
                                                    ref_cva, seq_logp(ref, mx.array(r_va)), beta)
                pc = float(mx.exp(seq_logp(policy, mx.array(c_va))).mean().item())
                php(event="dpo", step=step, lr=lr_used, loss=float(loss.item()), pref_loss=float(pref.item()),
                    loss_ema=ema / (1 - 0.9 ** k), reward_chosen=float(wc.item()),
                    reward_rejected=float(wr.item()), margin=float((wc - wr).item()),
                    val_loss=float(vloss.item()), val_pref_acc=float(vacc.item()),
                    p_courteous=pc, base_p_courteous=p_thanks)
        return policy, opt

    policy, opt = session(0, split_at, None)
    ckpt = os.path.join(work, f"step_{split_at:04d}")
    os.makedirs(ckpt)
    mx.save_safetensors(os.path.join(ckpt, "adapters.safetensors"), dict(tree_flatten(policy.trainable_parameters())))
    mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    before = float(dpo_loss(policy, mx.array(c_va), mx.array(r_va), ref_cva,
                            seq_logp(ref, mx.array(r_va)), beta)[0].item())
    php(event="checkpoint", step=split_at, files=len(os.listdir(ckpt)), val_loss=before)
    del policy, opt

    policy, opt = session(split_at, total_steps, ckpt)
    pc = float(mx.exp(seq_logp(policy, mx.array(c_va))).mean().item())
    greedy = np.array(mx.argmax(policy(mx.array(c_va[:, :-1]))[:, -1, :], axis=-1))
    shutil.rmtree(work)
    php(event="done", greedy_courteous_rate=float(np.mean(greedy == THANKS)),
        p_courteous=pc, base_p_courteous=p_thanks, secs=time.perf_counter() - t0)


if __name__ == "__main__":
    main()
