import os, tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Mountain hut provisioning: 64 huts, stock 0..15 crates, order 0..3 crates per day by helicopter.
# Demand is Poisson, higher at weekends. All rewards are costs, so returns are negative by design.
N_HUT, MAX_STOCK, N_ACT, GAMMA, NSTEP = 64, 15, 4, 0.9, 3
rng = np.random.default_rng(7)
mx.random.seed(7)

def feats(stock, day):
    ang = 2 * np.pi * (day % 7) / 7.0
    return np.stack([stock / MAX_STOCK, np.sin(ang), np.cos(ang), (stock == 0).astype(np.float64)], 1).astype(np.float32)

def env_step(stock, day, act, r):
    stock = np.minimum(stock + act, MAX_STOCK)
    lam = np.where((day % 7) >= 5, 2.6, 1.1)
    dem = r.poisson(lam)
    sold = np.minimum(stock, dem)
    short = dem - sold
    stock = stock - sold
    rew = -(0.05 * stock + 0.3 * (act > 0) + 0.1 * act + 1.0 * short)
    return stock, day + 1, rew.astype(np.float32)

class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, N_ACT)
    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))

TEMP = 0.05
def soft_v(q):
    return TEMP * mx.logsumexp(q / TEMP, axis=1)

def loss_fn(model, s, a, g, sn, disc, target):
    q = model(s)
    qa = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    y = mx.stop_gradient(g + disc * soft_v(target(sn)))
    return nn.losses.huber_loss(qa, y, reduction="mean")

def evaluate(policy, episodes=4, days=30):
    r = np.random.default_rng(123)
    tot = np.zeros(N_HUT)
    for _ in range(episodes):
        stock = np.full(N_HUT, 5); day = r.integers(0, 7, N_HUT)
        for _ in range(days):
            a = policy(stock, day, r)
            stock, day, rew = env_step(stock, day, a, r)
            tot += rew
    return tot.mean() / episodes

def greedy(model):
    def pol(stock, day, r):
        return np.array(mx.argmax(model(mx.array(feats(stock, day))), axis=1))
    return pol

rand_pol = lambda stock, day, r: r.integers(0, N_ACT, N_HUT)
base_pol = lambda stock, day, r: np.clip(6 - stock, 0, 3)

WARM, TOTAL, LR = 300, 2400, 1e-3
def lr_at(step):
    return LR * min(1.0, max(0, step) / WARM)

def make(state=None):
    model, target = QNet(), QNet()
    opt = optim.Adam(learning_rate=0.0)
    if state is not None:
        model.load_weights(state["w"]); target.load_weights(state["t"])
        opt.state = tree_unflatten(list(mx.load(state["o"]).items()))
    else:
        target.update(model.parameters())
    mx.eval(model.parameters(), target.parameters())
    return model, target, opt

def run(model, target, opt, start, stop, stock, day, buf):
    grad_fn = nn.value_and_grad(model, loss_fn)
    losses = []
    for step in range(start, stop):
        eps = max(0.05, 1.0 - step / 1200)
        q = np.array(model(mx.array(feats(stock, day))))
        a = np.where(rng.random(N_HUT) < eps, rng.integers(0, N_ACT, N_HUT), q.argmax(1))
        s0 = feats(stock, day)
        stock, day, rew = env_step(stock, day, a, rng)
        buf.append((s0, a, rew, feats(stock, day)))
        if len(buf) > 200:
            buf.pop(0)
        if len(buf) < 40:
            continue
        # n-step transitions drawn from random start points in the rolling window
        idx = rng.integers(0, len(buf) - NSTEP, 4)
        S, A, G, SN = [], [], [], []
        for i in idx:
            g = sum((GAMMA ** k) * buf[i + k][2] for k in range(NSTEP))
            S.append(buf[i][0]); A.append(buf[i][1]); G.append(g); SN.append(buf[i + NSTEP - 1][3])
        S, A, G, SN = (mx.array(np.concatenate(x)) for x in (S, A, G, SN))
        opt.learning_rate = lr_at(step - 40)
        loss, grads = grad_fn(model, S, A.astype(mx.int32), G, SN, GAMMA ** NSTEP, target)
        opt.update(model, grads)
        tp = tree_flatten(target.parameters()); mp = dict(tree_flatten(model.parameters()))
        target.update(tree_unflatten([(k, 0.99 * v + 0.01 * mp[k]) for k, v in tp]))
        mx.eval(model.parameters(), target.parameters(), opt.state, loss)
        losses.append(loss.item())
        if (step + 1) % 300 == 0:
            print(f"step {step+1:5d} lr {lr_at(step - 40):.2e} eps {eps:.2f} td_loss {np.mean(losses[-300:]):.4f} "
                  f"mean_q {float(model(S).max(1).mean()):+.3f}")
    return stock, day

print(f"baselines over 30 days: random {evaluate(rand_pol):+.2f}  order-up-to-6 {evaluate(base_pol):+.2f}")
model, target, opt = make()
stock = np.full(N_HUT, 5); day = rng.integers(0, 7, N_HUT); buf = []
stock, day = run(model, target, opt, 0, TOTAL // 2, stock, day, buf)
mid = evaluate(greedy(model))
ck = tempfile.mkdtemp()
paths = {"w": os.path.join(ck, "q.safetensors"), "t": os.path.join(ck, "t.safetensors"), "o": os.path.join(ck, "opt.safetensors")}
model.save_weights(paths["w"]); target.save_weights(paths["t"])
mx.save_safetensors(paths["o"], dict(tree_flatten(opt.state)))
print(f"checkpoint at step {TOTAL//2}: greedy return {mid:+.2f}; reloading into fresh objects")
del model, target, opt
model, target, opt = make(paths)
stock, day = run(model, target, opt, TOTAL // 2, TOTAL, stock, day, buf)
final = evaluate(greedy(model))
print(f"final greedy return {final:+.2f} | random {evaluate(rand_pol):+.2f} | order-up-to-6 {evaluate(base_pol):+.2f}")
