"""PyTorch side of the SDE agreement test (Tests/SDECoreTests/TorchSDEAgreementTests.swift).

Reads from DIR, written by the Swift test: x0.npy [batch, 2], increments.npy
[steps, batch, 2] (the Brownian increments of each step), the MLP weights as
layers.K.weight.npy [out, in] and layers.K.bias.npy [out] for K = 0, 1, 2, and
settings.json with "sigma" and "steps" (the solve runs on [0, 1]). Solves
dX = MLP(X) dt + sigma dW by Euler-Maruyama in float32 with exactly these increments,
takes loss = mean(X_T^2), backpropagates, and writes terminal.npy, loss.npy and
grad.layers.K.weight.npy / grad.layers.K.bias.npy into DIR.

usage: python sde_agreement.py DIR
"""
import json
import pathlib
import sys

import numpy as np
import torch


def main():
    directory = pathlib.Path(sys.argv[1])
    settings = json.loads((directory / "settings.json").read_text())
    sigma, steps = float(settings["sigma"]), int(settings["steps"])
    x = torch.from_numpy(np.load(directory / "x0.npy"))
    increments = torch.from_numpy(np.load(directory / "increments.npy"))
    names = [f"layers.{k}.{kind}" for k in range(3) for kind in ("weight", "bias")]
    parameters = {name: torch.from_numpy(np.load(directory / f"{name}.npy")).requires_grad_(True) for name in names}

    def drift(state):
        hidden = state
        for k in range(3):
            hidden = hidden @ parameters[f"layers.{k}.weight"].T + parameters[f"layers.{k}.bias"]
            if k < 2:
                hidden = torch.tanh(hidden)
        return hidden

    h = torch.tensor(1.0 / steps, dtype=torch.float32)
    for n in range(steps):
        x = x + drift(x) * h + sigma * increments[n]
    loss = (x ** 2).mean()
    loss.backward()

    np.save(directory / "terminal.npy", x.detach().numpy())
    np.save(directory / "loss.npy", loss.detach().numpy())
    for name, parameter in parameters.items():
        np.save(directory / f"grad.{name}.npy", parameter.grad.numpy())


if __name__ == "__main__":
    main()
