import logging
import time
from typing import Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(levelname)s] %(message)s")

N_SQ = 64
N_MOVES = 24


class Config:
    hidden = 96
    lr = 2e-3
    epochs = 10
    batch = 64
    eval_every = 1


class ChessNet(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.trunk = [nn.Linear(N_SQ, config.hidden), nn.Linear(config.hidden, config.hidden)]
        self.policy_head = nn.Linear(config.hidden, N_MOVES)
        self.value_head = nn.Linear(config.hidden, 1)

    def __call__(self, x):
        for layer in self.trunk:
            x = nn.relu(layer(x))
        return self.policy_head(x), mx.tanh(self.value_head(x)).squeeze(-1)


def make_games(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    boards = mx.random.randint(-1, 2, (n, N_SQ), key=k1).astype(mx.float32)
    w_pol = mx.random.normal((N_SQ, N_MOVES), key=k2)
    w_val = mx.random.normal((N_SQ,), key=k3) / 8.0
    moves = mx.argmax(boards @ w_pol, axis=1)
    values = mx.tanh(boards @ w_val)
    return boards, moves, values


class Trainer:
    def __init__(self, config):
        self.config = config
        self.logger = logging.getLogger("chesszero")
        self.model = ChessNet(config)
        self.best_model = None
        self.optimizer = optim.Adam(learning_rate=config.lr)
        boards, moves, values = make_games(9216, mx.random.key(7))
        self.train_data = (boards[:8192], moves[:8192], values[:8192])
        self.eval_data = (boards[8192:], moves[8192:], values[8192:])

    def loss_fn(self, model, boards, moves, values):
        logits, pred_values = model(boards)
        p_loss = nn.losses.cross_entropy(logits, moves, reduction="mean")
        v_loss = nn.losses.mse_loss(pred_values, values, reduction="mean")
        return p_loss + v_loss, (p_loss, v_loss)

    def train_epoch(self, epoch):
        boards, moves, values = self.train_data
        perm = mx.random.permutation(boards.shape[0])
        step = nn.value_and_grad(self.model, self.loss_fn)
        tot = pt = vt = 0.0
        n = 0
        for i in range(0, boards.shape[0], self.config.batch):
            idx = perm[i : i + self.config.batch]
            (loss, (p_loss, v_loss)), grads = step(self.model, boards[idx], moves[idx], values[idx])
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state, loss, p_loss, v_loss)
            tot += loss.item(); pt += p_loss.item(); vt += v_loss.item(); n += 1
        self.logger.info(f"Training on game data in epoch {epoch + 1}...")
        self.logger.info(f"Average policy loss: {pt / n:.4f}")
        self.logger.info(f"Average value loss: {vt / n:.4f}")
        self.logger.info(f"Average total loss: {tot / n:.4f}")

    def score(self, model):
        boards, moves, values = self.eval_data
        logits, pred_values = model(boards)
        acc = mx.mean(mx.argmax(logits, axis=1) == moves)
        err = mx.mean(mx.abs(pred_values - values))
        return acc.item(), err.item()

    def evaluate(self) -> Tuple[float, float, float]:
        """Evaluate current model against best model"""
        self.logger.info("Evaluating against best model...")
        if self.best_model is None:
            self.logger.info("No best model yet, using current model as best")
            self.best_model = ChessNet(self.config)
            self.best_model.load_state_dict(self.model.state_dict())
            mx.eval(self.best_model.parameters())
            return 0.1, 0.0, 0.0
        cur_acc, cur_err = self.score(self.model)
        best_acc, best_err = self.score(self.best_model)
        win_rate = 0.5 + 0.5 * (cur_acc - best_acc) - 0.5 * (cur_err - best_err)
        return win_rate, cur_acc, best_acc

    def train(self):
        for epoch in range(self.config.epochs):
            self.train_epoch(epoch)
            win_rate, cur_acc, best_acc = self.evaluate()
            self.logger.info(f"win rate vs best: {win_rate:.3f} (move acc {cur_acc:.3f} vs {best_acc:.3f})")
            if win_rate > 0.55:
                self.logger.info("New best model!")
                self.best_model.load_weights(tree_flatten(self.model.parameters()))
                mx.eval(self.best_model.parameters())
        acc, err = self.score(self.best_model)
        self.logger.info(f"Best model: move accuracy {acc:.3f}, value MAE {err:.4f}")


if __name__ == "__main__":
    mx.random.seed(0)
    t0 = time.time()
    Trainer(Config()).train()
    logging.getLogger("chesszero").info(f"done in {time.time() - t0:.1f}s")
