"""Tiny single-box grid detector (YOLO-style) on synthetic 24x24 images."""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

S = 3  # grid cells per side
IMG = 24


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, IMG, IMG, 1), dtype=np.float32)
    tgts = np.zeros((n, S, S, 5), dtype=np.float32)
    for i in range(n):
        w, h = rng.integers(4, 10, size=2)
        x0 = rng.integers(0, IMG - w)
        y0 = rng.integers(0, IMG - h)
        imgs[i, y0:y0 + h, x0:x0 + w, 0] = 1.0
        cx, cy = (x0 + w / 2) / IMG, (y0 + h / 2) / IMG
        gx, gy = min(int(cx * S), S - 1), min(int(cy * S), S - 1)
        tgts[i, gy, gx] = [cx * S - gx, cy * S - gy, w / IMG, h / IMG, 1.0]
    imgs += rng.normal(0, 0.05, imgs.shape).astype(np.float32)
    return mx.array(imgs), mx.array(tgts)


class YOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(32 * 6 * 6, S * S * 5)

    def __call__(self, x):
        x = self.pool(nn.leaky_relu(self.c1(x), 0.1))
        x = self.pool(nn.leaky_relu(self.c2(x), 0.1))
        x = nn.leaky_relu(self.c3(x), 0.1)
        x = self.head(x.reshape(x.shape[0], -1))
        return x.reshape(-1, S, S, 5)


def yolo_loss(pred, tgt, l_coord=5.0, l_noobj=0.5):
    obj = tgt[..., 4]
    p_xy = mx.sigmoid(pred[..., :2])
    p_wh = mx.sigmoid(pred[..., 2:4])
    p_conf = mx.sigmoid(pred[..., 4])
    xy = ((p_xy - tgt[..., :2]) ** 2).sum(-1)
    wh = ((mx.sqrt(p_wh) - mx.sqrt(tgt[..., 2:4])) ** 2).sum(-1)
    conf = obj * (p_conf - 1.0) ** 2 + l_noobj * (1 - obj) * p_conf ** 2
    per_img = (l_coord * obj * (xy + wh) + conf).sum(axis=(1, 2))
    return per_img.mean()


def create_data_loader(images, targets, batch_size, shuffle=True):
    idx = np.random.permutation(images.shape[0]) if shuffle else np.arange(images.shape[0])
    xs, ys = [], []
    for s in range(0, len(idx), batch_size):
        b = mx.array(idx[s:s + batch_size])
        xs.append(images[b])
        ys.append(targets[b])
    return xs, ys


def train(
    num_epochs: int = 8,
    batch_size: int = 32,
    learning_rate: float = 0.002,
    weight_decay: float = 0.0005,
    momentum: float = 0.9,
):
    """Train YOLO model"""
    mx.random.seed(0)
    np.random.seed(0)
    model = YOLO()
    optimizer = optim.Adam(learning_rate=learning_rate, weight_decay=weight_decay)

    images, targets = make_split(448, 1)
    print(f"train images {images.shape}, targets {targets.shape}")

    for epoch in range(num_epochs):
        model.train = True  # Set to training mode
        epoch_loss = 0.0
        start_time = time.time()
        train_images, train_targets = create_data_loader(images, targets, batch_size)

        for batch_idx, (imgs, tg) in enumerate(zip(train_images, train_targets)):

            def loss_fn(model):
                return yolo_loss(model(imgs), tg)

            loss, grads = nn.value_and_grad(model, loss_fn)(model)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            epoch_loss += loss.item()

            if (batch_idx + 1) % 7 == 0:
                print(
                    f"Epoch [{epoch+1}/{num_epochs}], "
                    f"Batch [{batch_idx+1}/{len(train_images)}], "
                    f"Loss: {loss.item():.4f}"
                )

        avg_loss = epoch_loss / len(train_images)
        print(
            f"Epoch [{epoch+1}/{num_epochs}], "
            f"Average Loss: {avg_loss:.4f}, "
            f"Time: {time.time() - start_time:.2f}s"
        )


if __name__ == "__main__":
    config = {
        "num_epochs": 8,
        "batch_size": 32,
        "learning_rate": 0.002,
        "weight_decay": 0.0005,
        "momentum": 0.9,
    }
    train(**config)
