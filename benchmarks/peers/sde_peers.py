"""Peer side of the SDE speed benchmark: the same workload as benchmark-sde (ii).

1000 Euler-Maruyama steps on [0, 1] of dX = MLP(X) dt + 0.5 dW in 2-D, the drift an MLP
2-64-64-2 with tanh, a batch of 1000 paths, float32, no gradients. Implementations:
JAX (the whole loop under jit with lax.fori_loop), torchsde (sdeint, method "euler",
its default Brownian interval) and a plain PyTorch loop with increments drawn directly.
Prints one JSON object with the median seconds of each over --runs timed runs after one
untimed warm-up run.

usage: python sde_peers.py [--runs N] [--only jax|torchsde|torch]
"""
import argparse
import json
import statistics
import time


def median_seconds(run, runs):
    run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


BATCH, STEPS, SIGMA = 1000, 1000, 0.5


def jax_seconds(runs):
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    keys = jax.random.split(key, 4)
    sizes = [2, 64, 64, 2]
    params = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1 / fan_in ** 0.5
        w = jax.random.uniform(keys[index], (fan_in, fan_out), jnp.float32, -bound, bound)
        b = jnp.zeros((fan_out,), jnp.float32)
        params.append((w, b))

    def drift(x):
        for w, b in params[:-1]:
            x = jnp.tanh(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    h = 1.0 / STEPS

    @jax.jit
    def solve(x0, key):
        def step(n, carry):
            x, key = carry
            key, sub = jax.random.split(key)
            dw = jax.random.normal(sub, x.shape, jnp.float32) * jnp.sqrt(h)
            return (x + drift(x) * h + SIGMA * dw, key)

        x, _ = jax.lax.fori_loop(0, STEPS, step, (x0, key))
        return x

    x0 = jax.random.normal(keys[3], (BATCH, 2), jnp.float32)
    return median_seconds(lambda: solve(x0, key).block_until_ready(), runs), jax.__version__


def torch_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2)
    )


def torchsde_seconds(runs):
    import torch
    import torchsde

    model = torch_model()

    class SDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def f(self, t, y):
            return model(y)

        def g(self, t, y):
            return torch.full_like(y, SIGMA)

    sde = SDE()
    x0 = torch.randn(BATCH, 2)
    ts = torch.tensor([0.0, 1.0])

    def run():
        with torch.no_grad():
            torchsde.sdeint(sde, x0, ts, method="euler", dt=1.0 / STEPS)

    return median_seconds(run, runs)


def torch_loop_seconds(runs):
    import torch

    model = torch_model()
    x0 = torch.randn(BATCH, 2)
    h = 1.0 / STEPS

    def run():
        with torch.no_grad():
            x = x0
            for _ in range(STEPS):
                x = x + model(x) * h + SIGMA * torch.randn_like(x) * h ** 0.5

    return median_seconds(run, runs), torch.__version__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["jax", "torchsde", "torch"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    result = {}
    if args.only in (None, "jax"):
        result["jax"], result["jax_version"] = jax_seconds(args.runs)
    if args.only in (None, "torch"):
        result["torch_loop"], result["torch_version"] = torch_loop_seconds(args.runs)
    if args.only in (None, "torchsde"):
        result["torchsde"] = torchsde_seconds(args.runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
