# Household-waste sorter: tiny conv net on synthetic 12x12 "photos" of 4 waste
# classes (glass, paper, plastic, metal). Data loader is a numpy generator.
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NUM_CLASSES = 4
rng = np.random.default_rng(7)


class HouseholdWasteDataset:
    def __init__(self, n, split):
        r = np.random.default_rng(11 if split == "train" else 12)
        self.labels = r.integers(0, NUM_CLASSES, size=n)
        yy, xx = np.mgrid[0:12, 0:12] / 11.0
        protos = np.stack([
            np.sin(3 * xx) * 0.4,            # glass: horizontal ripple
            (yy > 0.5).astype(float) * 0.4,  # paper: half bright
            np.exp(-((xx - .5) ** 2 + (yy - .5) ** 2) * 8) * 0.5,  # plastic: blob
            ((xx + yy) % 0.4 > 0.2) * 0.4,   # metal: stripes
        ])
        noise = r.normal(0, 0.5, size=(n, 12, 12))
        self.images = (protos[self.labels] + noise)[..., None].astype(np.float32)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def data_loader(dataset, batch_size, shuffle=True):
    data_len = len(dataset)
    indices = np.arange(data_len)
    if shuffle:
        rng.shuffle(indices)
    for start_idx in range(0, data_len, batch_size):
        end_idx = min(start_idx + batch_size, data_len)
        batch = [dataset[i] for i in indices[start_idx:end_idx]]
        batch_X = mx.array(np.stack([item[0] for item in batch]))
        batch_y = mx.array([item[1] for item in batch])
        yield batch_X, batch_y


class SmallConvNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.head = nn.Linear(16 * 36, num_classes)

    def __call__(self, x):
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))
        return self.head(x.reshape(x.shape[0], -1))


def loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def train(num_epochs=8, batch_size=32, lr=0.05):
    mx.random.seed(0)
    train_data = HouseholdWasteDataset(1024, "train")
    val_data = HouseholdWasteDataset(256, "val")

    model = SmallConvNet(num_classes=NUM_CLASSES)
    mx.eval(model.parameters())
    optimizer = optim.SGD(learning_rate=lr)
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=model.state, outputs=model.state)
    def train_step(X, y):
        loss, grads = loss_and_grad_fn(model, X, y)
        optimizer.update(model, grads)
        return loss

    @partial(mx.compile, inputs=model.state)
    def eval_fn(X, y):
        return mx.mean(mx.argmax(model(X), axis=1) == y)

    num_batches = len(train_data) // batch_size
    for epoch in range(num_epochs):
        train_loader = data_loader(train_data, batch_size, shuffle=True)
        val_loader = data_loader(val_data, batch_size, shuffle=False)
        print(f"Epoch: {epoch}")

        for idx, (batch_X, batch_y) in enumerate(train_loader):
            loss = train_step(batch_X, batch_y)
            mx.eval(model.state)
            if idx % 10 == 0:
                print(f"Batch: {idx}/{num_batches}, Loss: {loss}")

        for batch_X, batch_y in val_loader:
            accuracy_step = eval_fn(batch_X, batch_y)
            print(f"Validation Accuracy: {accuracy_step}")
            break


if __name__ == "__main__":
    train()
