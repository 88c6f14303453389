"""Hexapawn (3x3) learned from scratch by AlphaZero-style self-play.

Policy/value MLP guides a PUCT tree search; the search's visit counts become
policy targets and the game results become value targets.  Every generation:
self-play -> train on a replay window -> arena against the previous net.
Halfway through, the run is checkpointed to disk and resumed into fresh objects.
At the end the net is scored against an exact minimax solution of the game.
"""
import math
import os
import random
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

N_ACT = 27  # from-square (9) x direction (left-diag, forward, right-diag)
DIRS = (-1, 0, 1)
START = (1, 1, 1, 0, 0, 0, -1, -1, -1)  # side to move always owns the +1 pawns, moving up


# ---------------------------------------------------------------- game rules
def legal_actions(s):
    acts = []
    for sq in range(6):  # a pawn on the top row has already won
        if s[sq] != 1:
            continue
        r, c = divmod(sq, 3)
        for k, d in enumerate(DIRS):
            cc = c + d
            if cc < 0 or cc > 2:
                continue
            t = (r + 1) * 3 + cc
            if (d == 0 and s[t] == 0) or (d != 0 and s[t] == -1):
                acts.append(sq * 3 + k)
    return acts


def play(s, a):
    """Apply action a; return (next state from the opponent's view, mover_won)."""
    sq, k = divmod(a, 3)
    r, c = divmod(sq, 3)
    t = (r + 1) * 3 + c + DIRS[k]
    b = list(s)
    b[sq] = 0
    b[t] = 1
    won = t >= 6
    nxt = tuple(-b[(2 - i // 3) * 3 + i % 3] for i in range(9))  # flip rows, swap colours
    if not won and not legal_actions(nxt):
        won = True
    return nxt, won


def mirror_state(s):
    return tuple(s[(i // 3) * 3 + 2 - i % 3] for i in range(9))


MIRROR_ACT = []
for _a in range(N_ACT):
    _sq, _k = divmod(_a, 3)
    _r, _c = divmod(_sq, 3)
    MIRROR_ACT.append((_r * 3 + 2 - _c) * 3 + (2 - _k))


def features(s):
    b = np.array(s, dtype=np.float32)
    return np.concatenate([(b == 1).astype(np.float32), (b == -1).astype(np.float32)])


# ---------------------------------------------------------------- exact solution
_solved = {}


def solve(s):
    """+1 if the side to move wins with perfect play, else -1 (hexapawn has no draws)."""
    if s in _solved:
        return _solved[s]
    best = -1
    for a in legal_actions(s):
        nxt, won = play(s, a)
        if won or solve(nxt) == -1:
            best = 1
            break
    _solved[s] = best
    return best


def reachable():
    seen, stack = set(), [START]
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        for a in legal_actions(s):
            nxt, won = play(s, a)
            if not won:
                stack.append(nxt)
    return sorted(seen)


# ---------------------------------------------------------------- network
class PawnNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(18, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.policy = nn.Linear(hidden, N_ACT)
        self.value = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.policy(h), mx.tanh(self.value(h)).squeeze(-1)


class Evaluator:
    """Caches the net's (priors, value) per position; the net is frozen during a search phase."""

    def __init__(self, model):
        self.model = model
        self.cache = {}

    def __call__(self, s):
        if s not in self.cache:
            logits, v = self.model(mx.array(features(s))[None])
            logits = np.array(logits[0])
            acts = legal_actions(s)
            p = np.zeros(N_ACT, dtype=np.float64)
            z = logits[acts] - logits[acts].max()
            p[acts] = np.exp(z) / np.exp(z).sum()
            self.cache[s] = (p, float(v.item()))
        return self.cache[s]


# ---------------------------------------------------------------- PUCT search
def search(root, evaluate, sims, c_puct=1.5, noise=False):
    N, W, P = {}, {}, {}

    def expand(s):
        p, v = evaluate(s)
        if s is root and noise:
            acts = legal_actions(s)
            d = np.random.dirichlet([0.6] * len(acts))
            p = p.copy()
            p[acts] = 0.75 * p[acts] + 0.25 * d
        P[s] = p
        N[s] = np.zeros(N_ACT)
        W[s] = np.zeros(N_ACT)
        return v

    def sim(s):
        if s not in P:
            return expand(s)
        acts = legal_actions(s)
        n, w, p = N[s], W[s], P[s]
        sq = math.sqrt(n.sum() + 1)
        best, best_u = None, -1e9
        for a in acts:
            q = w[a] / n[a] if n[a] > 0 else 0.0
            u = q + c_puct * p[a] * sq / (1 + n[a])
            if u > best_u:
                best, best_u = a, u
        nxt, won = play(s, best)
        val = 1.0 if won else -sim(nxt)
        n[best] += 1
        w[best] += val
        return val

    expand(root)
    for _ in range(sims):
        sim(root)
    return N[root]


def self_play_game(evaluate, sims):
    s, hist = START, []
    ply = 0
    while True:
        counts = search(s, evaluate, sims, noise=True)
        pi = counts / counts.sum()
        if ply < 3:
            a = int(np.random.choice(N_ACT, p=pi))
        else:
            a = int(np.argmax(counts))
        hist.append((s, pi))
        s, won = play(s, a)
        ply += 1
        if won:
            break
    # the last mover won; walk back alternating the result
    out, z = [], 1.0
    for st, pi in reversed(hist):
        out.append((st, pi, z))
        z = -z
    return out


def match(eval_a, eval_b, games, sims):
    """Score of A (win=1) over `games` games, A takes each colour half the time."""
    score = 0.0
    for g in range(games):
        players = (eval_a, eval_b) if g % 2 == 0 else (eval_b, eval_a)
        s, turn = START, 0
        while True:
            counts = search(s, players[turn], sims)
            s, won = play(s, int(np.argmax(counts)))
            if won:
                winner_is_a = (turn == 0) == (g % 2 == 0)
                score += 1.0 if winner_is_a else 0.0
                break
            turn ^= 1
    return score / games


# ---------------------------------------------------------------- training
def loss_fn(model, x, pi, z):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    pol = -(pi * logp).sum(axis=-1).mean()
    val = mx.square(v - z).mean()
    return pol + val, (pol, val)


def lr_at(step, total, peak=3e-3, warm=40):
    if step < warm:
        return peak * step / warm  # starts at exactly 0
    t = (step - warm) / max(1, total - warm)
    return 0.5 * peak * (1 + math.cos(math.pi * t))


def save_ckpt(path, model, opt, step, gen, buffer):
    model.save_weights(os.path.join(path, "net.safetensors"))
    mx.save_safetensors(os.path.join(path, "opt.safetensors"), dict(tree_flatten(opt.state)))
    np.save(os.path.join(path, "meta.npy"), np.array([step, gen]))
    import pickle
    with open(os.path.join(path, "buffer.pkl"), "wb") as f:
        pickle.dump(buffer, f)


def load_ckpt(path):
    import pickle
    model = PawnNet()
    model.load_weights(os.path.join(path, "net.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "opt.safetensors")).items()))
    step, gen = [int(v) for v in np.load(os.path.join(path, "meta.npy"))]
    with open(os.path.join(path, "buffer.pkl"), "rb") as f:
        buffer = pickle.load(f)
    return model, opt, step, gen, buffer


def evaluate_exact(model, states):
    ev = Evaluator(model)
    win_pos, pol_hits, rand_hits, val_hits = 0, 0, 0.0, 0
    for s in states:
        truth = solve(s)
        p, v = ev(s)
        val_hits += int(np.sign(v) == truth)
        if truth == 1:
            acts = legal_actions(s)
            good = [a for a in acts if play(s, a)[1] or solve(play(s, a)[0]) == -1]
            win_pos += 1
            pol_hits += int(int(np.argmax(p)) in good)
            rand_hits += len(good) / len(acts)
    n = len(states)
    majority = max(sum(solve(s) == 1 for s in states), sum(solve(s) == -1 for s in states)) / n
    return pol_hits / win_pos, rand_hits / win_pos, val_hits / n, majority, win_pos


def vs_random(evaluate, games, sims, as_second):
    wins = 0
    for g in range(games):
        s, turn = START, 0
        me = 1 if as_second else 0
        while True:
            if turn == me:
                if sims > 0:
                    a = int(np.argmax(search(s, evaluate, sims)))
                else:
                    a = int(np.argmax(evaluate(s)[0]))
            else:
                a = random.choice(legal_actions(s))
            s, won = play(s, a)
            if won:
                wins += int(turn == me)
                break
            turn ^= 1
    return wins / games


def main():
    t0 = time.time()
    GENS, GAMES, SIMS, STEPS, BATCH, WINDOW = 8, 30, 32, 60, 64, 3
    TOTAL = GENS * STEPS
    states = reachable()
    print(f"hexapawn: {len(states)} reachable positions; start position value for side to move = {solve(START):+d}")

    model = PawnNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    vg = nn.value_and_grad(model, loss_fn)
    step, gen0, buffer = 0, 0, []
    prev_params = None
    ckdir = tempfile.mkdtemp(prefix="pawnfield_")

    acc, rnd, vacc, maj, nwin = evaluate_exact(model, states)
    print(f"untrained: policy-optimal {acc:.3f} (random legal move {rnd:.3f}) | value-sign {vacc:.3f} (majority {maj:.3f})")

    gen = gen0
    while gen < GENS:
        ev = Evaluator(model)
        games = [self_play_game(ev, SIMS) for _ in range(GAMES)]
        first_wins = sum(1 for g in games if len(g) % 2 == 1)
        data = []
        for g in games:
            for s, pi, z in g:
                data.append((features(s), pi, z))
                pim = np.zeros(N_ACT)
                for a in range(N_ACT):
                    pim[MIRROR_ACT[a]] = pi[a]
                data.append((features(mirror_state(s)), pim, z))
        buffer.append(data)
        buffer = buffer[-WINDOW:]
        flat = [d for chunk in buffer for d in chunk]
        X = mx.array(np.stack([d[0] for d in flat]))
        PI = mx.array(np.stack([d[1] for d in flat]).astype(np.float32))
        Z = mx.array(np.array([d[2] for d in flat], dtype=np.float32))
        pnp = np.stack([d[1] for d in flat])
        ent_floor = float(-(pnp * np.log(np.where(pnp > 0, pnp, 1))).sum(axis=1).mean())

        prev_params = tree_unflatten([(k, mx.array(v)) for k, v in tree_flatten(model.parameters())])
        pol_sum = val_sum = 0.0
        for i in range(STEPS):
            idx = mx.array(np.random.randint(0, len(flat), size=BATCH))
            opt.learning_rate = lr_at(step, TOTAL)
            (loss, (pol, val)), grads = vg(model, X[idx], PI[idx], Z[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            pol_sum += pol.item()
            val_sum += val.item()
            if step in (0, 1, 39, 40):
                print(f"  step {step:3d} lr {lr_at(step, TOTAL):.2e} loss {loss.item():.4f}")
            step += 1

        old = PawnNet()
        old.update(prev_params)
        arena = match(Evaluator(model), Evaluator(old), games=10, sims=16)
        acc, rnd, vacc, maj, _ = evaluate_exact(model, states)
        print(
            f"gen {gen+1}/{GENS} | self-play {GAMES} games, first mover won {first_wins}/{GAMES}, buffer {len(flat)} "
            f"| policy CE {pol_sum/STEPS:.4f} (target entropy floor {ent_floor:.4f}, excess {pol_sum/STEPS-ent_floor:.4f}) "
            f"| value MSE {val_sum/STEPS:.4f} | arena vs previous {arena:.2f} "
            f"| policy-optimal {acc:.3f} (random {rnd:.3f}) value-sign {vacc:.3f} (majority {maj:.3f})"
        )
        gen += 1

        if gen == GENS // 2:
            save_ckpt(ckdir, model, opt, step, gen, buffer)
            ref = dict(tree_flatten(model.parameters()))
            del model, opt, vg
            model, opt, step, gen, buffer = load_ckpt(ckdir)
            vg = nn.value_and_grad(model, loss_fn)
            diff = max(float(mx.abs(v - ref[k]).max().item()) for k, v in tree_flatten(model.parameters()))
            print(f"checkpoint written and reloaded into fresh objects: resume at gen {gen} step {step}, max param diff {diff:.1e}")

    acc, rnd, vacc, maj, nwin = evaluate_exact(model, states)
    ev = Evaluator(model)
    _, v0 = ev(START)
    print("final:")
    print(f"  policy picks a winning move in {acc:.3f} of {nwin} won positions (random legal move: {rnd:.3f})")
    print(f"  value sign matches minimax in {vacc:.3f} of {len(states)} positions (majority class: {maj:.3f})")
    print(f"  value of the start position {v0:+.3f} (exact: {solve(START):+d})")
    print(f"  as second player vs random mover: search {vs_random(ev, 40, 16, True):.2f}, raw policy {vs_random(ev, 40, 0, True):.2f}")
    print(f"  as first player vs random mover:  search {vs_random(ev, 40, 16, False):.2f} (a lost position for perfect play)")
    print(f"done in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
