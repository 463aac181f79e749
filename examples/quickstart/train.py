"""A real training: scikit-learn's MLP on the digits data set, one val_loss per epoch."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import sweepcli

DEFAULTS = {"lr": 1e-3, "hidden": 64, "alpha": 1e-4, "batch_size": 64, "epochs": 27}

with sweepcli.init(config=DEFAULTS) as run:
    c = run.config
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    model = MLPClassifier(hidden_layer_sizes=(c.hidden,), learning_rate_init=c.lr, alpha=c.alpha,
                          batch_size=c.batch_size, random_state=0)
    classes = np.unique(y)
    rng = np.random.default_rng(0)
    for epoch in range(c.epochs):
        order = rng.permutation(len(X_train))
        for start in range(0, len(order) - c.batch_size + 1, c.batch_size):  # whole batches
            idx = order[start:start + c.batch_size]
            model.partial_fit(X_train[idx], y_train[idx], classes=classes)
        proba = model.predict_proba(X_val)
        run.log({"epoch": epoch + 1, "val_loss": log_loss(y_val, proba, labels=classes),
                 "val_acc": accuracy_score(y_val, proba.argmax(axis=1))})
    print(f"lr={c.lr:.2g} hidden={c.hidden} -> val_acc {run.summary['val_acc']:.3f}")
