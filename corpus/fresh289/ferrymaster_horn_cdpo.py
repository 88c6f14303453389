"""Ferry horn-signal replies: conservative DPO on noisy preference pairs.

Every prompt is three signal codes; a reply is four codes. Two reply
conventions circulate in the logs ("house" and "old harbour"). A small causal
next-code model is first fitted on both conventions equally, so it has no
preference. Preference pairs favour the house convention, but 20% of the
stored pairs were recorded backwards, so the run uses the
conservative (label-smoothed) DPO loss with eps = 0.2 against a frozen copy
of the fitted model. Halfway through, the run saves a checkpoint and resumes
from it in a brand-new model and optimizer.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
CODES = 10
REPLY = 4
BETA = 0.1
EPS = 0.2
FLIP = 0.2


def house_reply(p):
    return [(p[i % 3] + i + 1) % CODES for i in range(REPLY)]


def harbour_reply(p):
    return [(p[i % 3] + 2 * i + 3) % CODES for i in range(REPLY)]


def encode(prompts, replies):
    rows = [[*p, *r] for p, r in zip(prompts, replies)]
    return mx.array(np.array(rows, dtype=np.int32))


# slot j (of the first 6) is visible when predicting reply code i iff j < 3 + i
VISIBLE = mx.array((np.arange(6)[None, :] < (3 + np.arange(REPLY))[:, None]).astype(np.float32))
POS = mx.eye(REPLY)


class HornLM(nn.Module):
    """Causal next-code model over a 6-slot window (future slots zeroed)."""

    def __init__(self, dims=16, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(CODES, dims)
        self.body = nn.Sequential(nn.Linear(6 * dims + REPLY, hidden), nn.GELU(),
                                  nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Linear(hidden, CODES)

    def __call__(self, seqs):
        e = self.embed(seqs[:, :6])                                  # (B, 6, d)
        ctx = e[:, None, :, :] * VISIBLE[None, :, :, None]            # (B, 4, 6, d)
        ctx = ctx.reshape(seqs.shape[0], REPLY, -1)
        pos = mx.broadcast_to(POS[None], (seqs.shape[0], REPLY, REPLY))
        return self.head(self.body(mx.concatenate([ctx, pos], axis=-1)))  # (B, 4, CODES)


def reply_logps(model, seqs):
    """Summed log-probability of the four reply codes of each sequence."""
    logp = nn.log_softmax(model(seqs), axis=-1)
    tok = mx.take_along_axis(logp, seqs[:, 3:, None], axis=-1).squeeze(-1)
    return tok.sum(axis=-1)


def greedy_replies(model, prompts):
    seqs = np.zeros((len(prompts), 3 + REPLY), dtype=np.int32)
    seqs[:, :3] = np.array(prompts)
    for i in range(REPLY):
        nxt = np.array(mx.argmax(model(mx.array(seqs))[:, i], axis=-1))
        seqs[:, 3 + i] = nxt
    return seqs[:, 3:]


def house_rate(model, prompts):
    got = greedy_replies(model, prompts)
    want = np.array([house_reply(p) for p in prompts])
    return float((got == want).all(axis=1).mean())


def pref_accuracy(policy, ref, chosen, rejected):
    margin = (reply_logps(policy, chosen) - reply_logps(policy, rejected)) - (
        reply_logps(ref, chosen) - reply_logps(ref, rejected)
    )
    return float((margin > 0).astype(mx.float32).mean())


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    t0 = time.perf_counter()

    def prompts(n):
        return [list(rng.integers(0, CODES, size=3)) for _ in range(n)]

    train_p = prompts(3000)
    test_p = prompts(400)

    # ---- stage 1: fit both conventions equally (quiet) ----
    sft = HornLM()
    mx.eval(sft.parameters())
    both = encode(train_p + train_p,
                  [house_reply(p) for p in train_p] + [harbour_reply(p) for p in train_p])
    opt1 = optim.Adam(learning_rate=5e-3)

    def sft_loss(m, x):
        return -reply_logps(m, x).mean() / REPLY

    sft_step = nn.value_and_grad(sft, sft_loss)
    n = both.shape[0]
    for step in range(200):
        idx = mx.array(rng.integers(0, n, size=128))
        loss, g = sft_step(sft, both[idx])
        opt1.update(sft, g)
        mx.eval(sft.parameters(), opt1.state, loss)
    print(f"stage 1 done: 200 steps, per-code nll {loss.item():.4f} (two-way split floor {np.log(2)/REPLY:.4f})")

    sft_weights = dict(tree_flatten(sft.parameters()))
    ref = HornLM()
    ref.load_weights(list(sft_weights.items()))
    ref.freeze()
    ref_before = {k: np.array(v) for k, v in tree_flatten(ref.parameters())}

    # ---- preference pairs: house preferred, 20% stored backwards ----
    ch = encode(train_p, [house_reply(p) for p in train_p])
    rj = encode(train_p, [harbour_reply(p) for p in train_p])
    flip = mx.array(rng.random(len(train_p)) < FLIP)[:, None]
    obs_ch = mx.where(flip, rj, ch)
    obs_rj = mx.where(flip, ch, rj)
    te_ch = encode(test_p, [house_reply(p) for p in test_p])
    te_rj = encode(test_p, [harbour_reply(p) for p in test_p])

    ref_ch_lp = mx.stop_gradient(reply_logps(ref, obs_ch))
    ref_rj_lp = mx.stop_gradient(reply_logps(ref, obs_rj))
    mx.eval(ref_ch_lp, ref_rj_lp)

    base_house = house_rate(ref, test_p)
    base_acc = 0.5
    floor = -(0.68 * np.log(0.68) + 0.32 * np.log(0.32))
    print(f"reference: greedy house-convention rate {base_house:.3f}; "
          f"expected cDPO loss floor with eps={EPS}, flip={FLIP}: {floor:.4f}")

    total_steps, warm, half = 300, 30, 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total_steps - warm, 1e-4)],
        [warm],
    )

    def make(weights=None, opt_state=None):
        m = HornLM()
        m.load_weights(list((weights or sft_weights).items()))
        o = optim.AdamW(learning_rate=sched, weight_decay=0.0)
        if opt_state is not None:
            o.state = opt_state
        return m, o

    def cdpo_loss(m, idx):
        pc = reply_logps(m, obs_ch[idx])
        pr = reply_logps(m, obs_rj[idx])
        h = (pc - pr) - (ref_ch_lp[idx] - ref_rj_lp[idx])
        loss = -(1 - EPS) * nn.log_sigmoid(BETA * h) - EPS * nn.log_sigmoid(-BETA * h)
        rc = BETA * (pc - ref_ch_lp[idx])
        rr = BETA * (pr - ref_rj_lp[idx])
        return loss.mean(), (rc.mean(), rr.mean(), (h > 0).astype(mx.float32).mean())

    policy, opt = make()
    ckpt_dir = tempfile.mkdtemp()
    step = 0
    print(f"{'step':>5} {'lr':>9} {'loss':>7} {'r_chosen':>9} {'r_rejected':>10} {'batch_acc':>9}")
    while step < total_steps:
        if step == half:
            mx.save_safetensors(os.path.join(ckpt_dir, "policy.safetensors"),
                                dict(tree_flatten(policy.parameters())))
            mx.save_safetensors(os.path.join(ckpt_dir, "optimizer.safetensors"),
                                dict(tree_flatten(opt.state)))
            del policy, opt
            w = dict(mx.load(os.path.join(ckpt_dir, "policy.safetensors")))
            s = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optimizer.safetensors")).items()))
            policy, opt = make(w, s)
            print(f"checkpoint written and reloaded at step {step} "
                  f"(optimizer step counter {int(opt.state['step'].item())})")
        grad_fn = nn.value_and_grad(policy, cdpo_loss)
        idx = mx.array(rng.integers(0, len(train_p), size=64))
        (loss, (rc, rr, acc)), g = grad_fn(policy, idx)
        lr = opt.learning_rate.item()
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state, loss)
        step += 1
        if step == 1 or step % 25 == 0:
            print(f"{step:5d} {lr:9.2e} {loss.item():7.4f} {rc.item():9.3f} {rr.item():10.3f} {acc.item():9.3f}")
        if step % 75 == 0:
            print(f"      held-out: pair accuracy {pref_accuracy(policy, ref, te_ch, te_rj):.3f} "
                  f"(chance {base_acc:.3f}), greedy house rate {house_rate(policy, test_p):.3f} "
                  f"(reference {base_house:.3f})")

    shutil.rmtree(ckpt_dir, ignore_errors=True)
    drift = max(float(np.abs(np.array(v) - ref_before[k]).max())
                for k, v in tree_flatten(ref.parameters()))
    final_acc = pref_accuracy(policy, ref, te_ch, te_rj)
    final_house = house_rate(policy, test_p)
    print(f"final: held-out pair accuracy {final_acc:.3f}, greedy house rate {final_house:.3f} "
          f"(reference {base_house:.3f}), reference drift {drift:.1e}, {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
