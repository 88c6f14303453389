"""Board-game cafe: which game should we put on a member's table next?

Implicit-feedback recommender trained with BPR (Bayesian personalised ranking)
on synthetic play logs.  Each game carries a fixed genre code; the genre
vectors are a hand-made lookup table that we keep frozen on purpose, while the
member / game factors, game popularity bias and member genre affinities train.

Reports are written as INI sections (configparser) so the cafe's dashboard can
parse them.
"""
import configparser
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_MEMBERS, N_GAMES, N_GENRES = 600, 200, 6
DIM, GENRE_DIM = 16, 4
EPOCHS, BATCH, TRIPLES_PER_EPOCH = 24, 256, 16384
L2 = 1e-4

rng = np.random.default_rng(11)

# ----------------------------------------------------------- synthetic logs
genre_of_game = rng.integers(0, N_GENRES, N_GAMES)
taste = rng.normal(size=(N_MEMBERS, 5))
game_attr = rng.normal(size=(N_GAMES, 5))
genre_love = rng.normal(scale=1.2, size=(N_MEMBERS, N_GENRES))
hype = rng.normal(scale=0.8, size=N_GAMES)
utility = taste @ game_attr.T / np.sqrt(5) + genre_love[:, genre_of_game] + hype

played = []          # list of arrays of game ids per member
held_out = np.zeros(N_MEMBERS, dtype=np.int64)
for m in range(N_MEMBERS):
    p = np.exp(utility[m] - utility[m].max())
    p /= p.sum()
    k = int(rng.integers(12, 30))
    games = rng.choice(N_GAMES, size=k, replace=False, p=p)
    held_out[m] = games[0]            # leave-one-out test game
    played.append(np.sort(games[1:]))

played_mask = np.zeros((N_MEMBERS, N_GAMES), dtype=bool)
for m, g in enumerate(played):
    played_mask[m, g] = True
pairs = np.argwhere(played_mask)      # (member, game) training interactions


def sample_triples(n):
    idx = rng.integers(0, len(pairs), n)
    u, pos = pairs[idx, 0], pairs[idx, 1]
    neg = rng.integers(0, N_GAMES, n)
    clash = played_mask[u, neg]
    while clash.any():                 # resample negatives the member played
        neg[clash] = rng.integers(0, N_GAMES, int(clash.sum()))
        clash = played_mask[u, neg]
    return u, pos, neg


# ------------------------------------------------------------------ model
class CafeRecommender(nn.Module):
    def __init__(self):
        super().__init__()
        self.member = nn.Embedding(N_MEMBERS, DIM)
        self.game = nn.Embedding(N_GAMES, DIM)
        self.game_bias = nn.Embedding(N_GAMES, 1)
        self.member_genre = nn.Embedding(N_MEMBERS, GENRE_DIM)
        self.genre_table = nn.Embedding(N_GENRES, GENRE_DIM)
        self._genre_of_game = mx.array(genre_of_game)
        for e in (self.member, self.game, self.member_genre):
            e.weight = 0.1 * e.weight
        self.game_bias.weight = mx.zeros((N_GAMES, 1))
        # fixed, hand-made genre codes (frozen below)
        codes = np.linspace(-1.0, 1.0, N_GENRES * GENRE_DIM).reshape(N_GENRES, GENRE_DIM)
        self.genre_table.weight = mx.array(np.sin(3.0 * codes).astype(np.float32))

    def score(self, u, g):
        gv = self.genre_table(self._genre_of_game[g])
        return ((self.member(u) * self.game(g)).sum(-1)
                + self.game_bias(g)[..., 0]
                + (self.member_genre(u) * gv).sum(-1))

    def all_scores(self, u):
        gv = self.genre_table(self._genre_of_game)                 # (G, 4)
        return (self.member(u) @ self.game.weight.T
                + self.game_bias.weight[:, 0][None]
                + self.member_genre(u) @ gv.T)


def bpr_loss(model, u, pos, neg):
    diff = model.score(u, pos) - model.score(u, neg)
    reg = (model.member(u).square().sum() + model.game(pos).square().sum()
           + model.game(neg).square().sum()) / u.shape[0]
    return -nn.log_sigmoid(diff).mean() + L2 * reg


def ranking_report(model):
    """Full pass: rank every game for every member, played games masked out."""
    ranks = []
    for start in range(0, N_MEMBERS, 64):
        u = mx.arange(start, min(start + 64, N_MEMBERS))
        s = np.array(model.all_scores(u))
        s[played_mask[start:start + 64]] = -np.inf
        target = s[np.arange(len(s)), held_out[start:start + 64]]
        ranks.append(1 + (s > target[:, None]).sum(1))
    ranks = np.concatenate(ranks)
    return float(ranks.mean()), float((ranks <= 10).mean() * 100)


def popularity_baseline():
    pop = played_mask.sum(0).astype(np.float64)
    s = np.broadcast_to(pop, (N_MEMBERS, N_GAMES)).copy()
    s[played_mask] = -np.inf
    target = s[np.arange(N_MEMBERS), held_out]
    ranks = 1 + (s > target[:, None]).sum(1)
    return float(ranks.mean()), float((ranks <= 10).mean() * 100)


def emit(section, values):
    cp = configparser.ConfigParser(interpolation=None)
    cp[section] = {k: str(v) for k, v in values.items()}
    cp.write(sys.stdout)
    sys.stdout.flush()


model = CafeRecommender()
model.genre_table.freeze()
frozen_before = np.array(model.genre_table.weight)
mx.eval(model.parameters())

opt = optim.Adam(learning_rate=5e-3)
step_fn = nn.value_and_grad(model, bpr_loss)

pop_rank, pop_hit = popularity_baseline()
rank0, hit0 = ranking_report(model)
emit("data", {"members": N_MEMBERS, "games": N_GAMES,
              "train_interactions": len(pairs),
              "trainable_values": sum(v.size for _, v in tree_flatten(model.trainable_parameters())),
              "frozen_values": model.genre_table.weight.size})
emit("baseline", {"popularity_mean_rank": f"{pop_rank:.2f}",
                  "popularity_hit_at_10": f"{pop_hit:.1f}%",
                  "untrained_mean_rank": f"{rank0:.2f}",
                  "untrained_hit_at_10": f"{hit0:.1f}%"})

t0 = time.time()
steps = 0
for epoch in range(1, EPOCHS + 1):
    u_all, p_all, n_all = sample_triples(TRIPLES_PER_EPOCH)
    total, seen = 0.0, 0
    for s in range(0, TRIPLES_PER_EPOCH, BATCH):
        u = mx.array(u_all[s:s + BATCH])
        p = mx.array(p_all[s:s + BATCH])
        n = mx.array(n_all[s:s + BATCH])
        loss, grads = step_fn(model, u, p, n)
        if steps == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            emit("gradient_check", {"leaves": len(leaves),
                                    "zero_leaves": ",".join(zero) or "none",
                                    "frozen_in_grads": any("genre_table" in k for k, _ in leaves)})
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        total += loss.item() * u.shape[0]
        seen += u.shape[0]
        steps += 1
    mean_rank, hit10 = ranking_report(model)
    emit(f"epoch {epoch:02d}", {"steps": steps,
                                "bpr_loss": f"{total / seen:.4f}",
                                "mean_rank": f"{mean_rank:.2f}",
                                "hit_at_10": f"{hit10:.1f}%",
                                "elapsed_s": f"{time.time() - t0:.1f}"})

drift = float(np.abs(np.array(model.genre_table.weight) - frozen_before).max())
emit("done", {"genre_table_max_change": f"{drift:.1f}",
              "final_mean_rank": f"{mean_rank:.2f}",
              "popularity_mean_rank": f"{pop_rank:.2f}"})
