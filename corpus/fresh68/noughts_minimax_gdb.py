"""Learn the perfect-play value (X wins / draw / O wins) of every reachable
noughts-and-crosses position, logged as if stepping through gdb."""
import time, functools
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LINES = [(0,1,2),(3,4,5),(6,7,8),(0,3,6),(1,4,7),(2,5,8),(0,4,8),(2,4,6)]

def winner(b):
    for a, c, d in LINES:
        if b[a] != 0 and b[a] == b[c] == b[d]:
            return b[a]
    return 0

@functools.lru_cache(maxsize=None)
def value(b, turn):
    w = winner(b)
    if w:
        return w
    if 0 not in b:
        return 0
    vals = [value(b[:i] + (turn,) + b[i+1:], -turn) for i in range(9) if b[i] == 0]
    return max(vals) if turn == 1 else min(vals)

def reachable():
    seen, stack = set(), [((0,)*9, 1)]
    while stack:
        b, t = stack.pop()
        if b in seen:
            continue
        seen.add(b)
        if winner(b) or 0 not in b:
            continue
        for i in range(9):
            if b[i] == 0:
                stack.append((b[:i] + (t,) + b[i+1:], -t))
    return sorted(seen)

def encode(b):
    b = np.array(b)
    turn = 1 if (b == 1).sum() == (b == -1).sum() else -1
    return np.concatenate([(b == 1), (b == -1), (b == 0), [turn == 1]]).astype(np.float32)

class ValueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(28, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 3)
    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)

def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    boards = reachable()
    X = np.stack([encode(b) for b in boards])
    turns = [1 if sum(v == 1 for v in b) == sum(v == -1 for v in b) else -1 for b in boards]
    y = np.array([{1: 0, 0: 1, -1: 2}[value(b, t)] for b, t in zip(boards, turns)], dtype=np.int32)
    perm = rng.permutation(len(y))
    nval = 900
    vi, ti = perm[:nval], perm[nval:]
    Xtr, ytr, Xva, yva = mx.array(X[ti]), mx.array(y[ti]), mx.array(X[vi]), mx.array(y[vi])

    print("GNU gdb (GDB) 14.2")
    print("Reading symbols from ./noughts...")
    print(f"(gdb) info positions\n  reachable={len(y)} train={len(ti)} valid={nval} "
          f"xwin={np.mean(y==0):.3f} draw={np.mean(y==1):.3f} owin={np.mean(y==2):.3f}")

    mx.random.seed(11)
    model = ValueNet()
    mx.eval(model.parameters())
    loss_fn = lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean")
    vg = nn.value_and_grad(model, loss_fn)

    l0, g0 = vg(model, Xtr[:128], ytr[:128])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"(gdb) break train_step\nBreakpoint 1 at 0x401a2c: file value.c, line 42.")
    print(f"(gdb) p gradcheck\n$1 = {{leaves = {len(leaves)}, zero_leaves = {len(zero)}, "
          f"loss0 = {l0.item():.4f}, chance = {np.log(3):.4f}}}")

    opt = optim.Adamax(learning_rate=optim.step_decay(4e-3, 0.5, 700))
    bs, epochs = 64, 30
    n = Xtr.shape[0]
    step = 0
    for ep in range(1, epochs + 1):
        order = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for s in range(0, n - bs + 1, bs):
            idx = order[s:s+bs]
            loss, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1; step += 1
        logits = model(Xva)
        vce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        vacc = mx.mean(mx.argmax(logits, axis=1) == yva).item()
        print(f"(gdb) continue\nBreakpoint 1, train_step (epoch={ep}, step={step}) at value.c:42")
        print(f"(gdb) p stats\n${ep+1} = {{train_ce = {tot/cnt:.4f}, valid_ce = {vce:.4f}, "
              f"valid_acc = {vacc:.4f}, lr = {opt.learning_rate.item():.5f}, t = {time.time()-t0:.1f}}}")

    empty = mx.array(encode((0,)*9))[None]
    p = mx.softmax(model(empty), axis=1)[0].tolist()
    print(f"(gdb) p predict(empty_board)\n${epochs+2} = {{xwin = {p[0]:.3f}, draw = {p[1]:.3f}, owin = {p[2]:.3f}}}")
    print("(gdb) quit\n[Inferior 1 (process 4242) exited normally]")

if __name__ == "__main__":
    main()
