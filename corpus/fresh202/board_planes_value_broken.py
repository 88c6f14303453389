# chesszero-style value net: encode random positions into 14 planes, fit material balance
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PIECES = ["P", "N", "B", "R", "Q", "K"]
VALUES = {"P": 1, "N": 3, "B": 3, "R": 5, "Q": 9, "K": 0}


class Piece:
    def __init__(self, piece_type, color):
        self.piece_type = piece_type
        self.color = color  # 0 white, 1 black
        self.has_moved = random.random() < 0.5


class Board:
    def __init__(self, rng):
        self.squares = [[None] * 8 for _ in range(8)]
        self.current_turn = rng.randint(0, 1)
        free = [(r, c) for r in range(8) for c in range(8)]
        rng.shuffle(free)
        self.squares[0][4] = Piece("K", 0)
        self.squares[7][4] = Piece("K", 1)
        free = [s for s in free if s not in ((0, 4), (7, 4))]
        for color in (0, 1):
            n = rng.randint(2, 9)
            for _ in range(n):
                r, c = free.pop()
                self.squares[r][c] = Piece(rng.choice(PIECES[:5]), color)
        for row, color in ((0, 0), (7, 1)):
            if rng.random() < 0.5 and self.squares[row][7] is None:
                self.squares[row][7] = Piece("R", color)

    def material(self):
        s = 0
        for row in self.squares:
            for p in row:
                if p:
                    s += VALUES[p.piece_type] * (1 if p.color == 0 else -1)
        return s


def encode_board(board):
    """14 x 8 x 8 planes: 6 white, 6 black, side to move, castling rooks."""
    encoded = mx.zeros((14, 8, 8))
    for row in range(8):
        for col in range(8):
            piece = board.squares[row][col]
            if piece:
                channel = PIECES.index(piece.piece_type) + 6 * piece.color
                encoded = encoded.at[channel, row, col].set(1)
    if board.current_turn == 0:
        encoded = encoded.at[12].set(mx.ones((8, 8)))
    for row in (0, 7):
        king = board.squares[row][4]
        if king and king.piece_type == "K" and not king.has_moved:
            rook_k = board.squares[row][7]
            if rook_k and rook_k.piece_type == "R" and not rook_k.has_moved:
                encoded = encoded.at[13, row, 4:8].set(1)
    return encoded


class ValueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(14, 16, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(16 * 64, 64)
        self.fc2 = nn.Linear(64, 1)

    def __call__(self, x):
        x = x.transpose(0, 2, 3, 1)  # NCHW -> NHWC
        h = nn.relu(self.conv(x)).reshape(x.shape[0], -1)
        return mx.tanh(self.fc2(nn.relu(self.fc1(h)))).squeeze(-1)


def build(n, rng):
    xs, ys = [], []
    for _ in range(n):
        b = Board(rng)
        xs.append(encode_board(b))
        ys.append(mx.tanh(mx.array(b.material() / 8.0)))
    return mx.stack(xs), mx.stack(ys)


def main():
    rng = random.Random(7)
    mx.random.seed(7)
    t0 = time.time()
    x_tr, y_tr = build(900, rng)
    x_va, y_va = build(200, rng)
    mx.eval(x_tr, y_tr, x_va, y_va)
    print(f"encoded {x_tr.shape[0]}+{x_va.shape[0]} positions in {time.time() - t0:.1f}s")

    model = ValueNet()
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, x, y):
        return mx.mean((m(x) - y) ** 2)

    step = nn.value_and_grad(model, loss_fn)
    bs = 64
    for epoch in range(1, 26):
        perm = mx.random.permutation(x_tr.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, x_tr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        va = loss_fn(model, x_va, y_va).item()
        if epoch % 5 == 0 or epoch == 1:
            print(f"epoch {epoch:2d}  value_mse {tot / nb:.4f}  val_mse {va:.4f}")
    print("done")


if __name__ == "__main__":
    main()
