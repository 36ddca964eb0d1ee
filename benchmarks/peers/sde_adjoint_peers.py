"""Peer side of the SDE gradient benchmark: the same workload as benchmark-sde (iv).

One gradient of loss = mean(X_T^2) with respect to the drift's weights, for
dX = MLP(X) dt + 0.5 dW in 2-D on [0, 1], the drift an MLP 2-64-64-2 with tanh,
a batch of 256 paths, 100 Euler-Maruyama steps, float32. Implementations:
  torchsde_adjoint   torchsde.sdeint_adjoint, method and adjoint_method "euler",
                     its default Brownian interval
  torchsde_backprop  torchsde.sdeint, method "euler", then loss.backward()
  torch_backprop     a plain PyTorch loop with increments drawn directly, then backward()
  diffrax_backsolve  diffrax.diffeqsolve with diffrax.Heun and BacksolveAdjoint, under
                     jax.jit, on a VirtualBrownianTree (only when diffrax is installed);
                     BacksolveAdjoint takes Stratonovich solvers only (diffrax 0.7.2), so
                     this is Heun, two drift evaluations a step, not Euler-Maruyama
  jax_backprop       jax.grad of a jit-compiled lax.fori_loop
Prints one JSON object with the median seconds of each over --runs timed runs after
one untimed warm-up run (which includes JAX's compilation).

usage: python sde_adjoint_peers.py [--runs N] [--threads N] [--only NAME]
"""
import argparse
import json
import statistics
import time

BATCH, STEPS, SIGMA = 256, 100, 0.5
NAMES = ["torchsde_adjoint", "torchsde_backprop", "torch_backprop", "diffrax_backsolve", "jax_backprop"]


def median_seconds(run, runs):
    run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def torch_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 2)
    )


def torchsde_sde(model):
    import torch

    class SDE(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def __init__(self):
            super().__init__()
            self.model = model

        def f(self, t, y):
            return self.model(y)

        def g(self, t, y):
            return torch.full_like(y, SIGMA)

    return SDE()


def torchsde_seconds(runs, adjoint):
    import torch
    import torchsde

    model = torch_model()
    sde = torchsde_sde(model)
    x0 = torch.randn(BATCH, 2)
    ts = torch.tensor([0.0, 1.0])

    def run():
        model.zero_grad()
        if adjoint:
            xs = torchsde.sdeint_adjoint(
                sde, x0, ts, method="euler", adjoint_method="euler", dt=1.0 / STEPS,
                adjoint_params=tuple(model.parameters()))
        else:
            xs = torchsde.sdeint(sde, x0, ts, method="euler", dt=1.0 / STEPS)
        (xs[-1] ** 2).mean().backward()

    return median_seconds(run, runs)


def torch_backprop_seconds(runs):
    import torch

    model = torch_model()
    x0 = torch.randn(BATCH, 2)
    h = 1.0 / STEPS

    def run():
        model.zero_grad()
        x = x0
        for _ in range(STEPS):
            x = x + model(x) * h + SIGMA * torch.randn_like(x) * h ** 0.5
        (x ** 2).mean().backward()

    return median_seconds(run, runs)


def jax_parameters():
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    sizes = [2, 64, 64, 2]
    params = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1 / fan_in ** 0.5
        w = jax.random.uniform(keys[index], (fan_in, fan_out), jnp.float32, -bound, bound)
        params.append((w, jnp.zeros((fan_out,), jnp.float32)))
    x0 = jax.random.normal(keys[3], (BATCH, 2), jnp.float32)
    return params, x0


def mlp(params, x):
    import jax.numpy as jnp

    for w, b in params[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = params[-1]
    return x @ w + b


def jax_backprop_seconds(runs):
    import jax
    import jax.numpy as jnp

    params, x0 = jax_parameters()
    h = 1.0 / STEPS

    def loss(params, key):
        def step(n, carry):
            x, key = carry
            key, sub = jax.random.split(key)
            dw = jax.random.normal(sub, x.shape, jnp.float32) * jnp.sqrt(h)
            return (x + mlp(params, x) * h + SIGMA * dw, key)

        x, _ = jax.lax.fori_loop(0, STEPS, step, (x0, key))
        return jnp.mean(x ** 2)

    gradient = jax.jit(jax.grad(loss))
    key = jax.random.PRNGKey(1)
    return median_seconds(lambda: jax.block_until_ready(gradient(params, key)), runs)


def diffrax_seconds(runs):
    import diffrax
    import jax
    import jax.numpy as jnp
    import lineax

    params, x0 = jax_parameters()
    dt = 1.0 / STEPS

    # The state is flattened to one vector, so that the diagonal noise is a lineax
    # DiagonalLinearOperator, the form diffrax 0.7 expects for diagonal diffusions.
    size = BATCH * 2
    noise = lineax.DiagonalLinearOperator(jnp.full((size,), SIGMA, jnp.float32))

    def loss(params, key):
        brownian = diffrax.VirtualBrownianTree(0.0, 1.0, tol=dt / 2, shape=(size,), key=key)
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(lambda t, y, args: mlp(args, y.reshape(BATCH, 2)).reshape(size)),
            diffrax.ControlTerm(lambda t, y, args: noise, brownian),
        )
        solution = diffrax.diffeqsolve(
            terms, diffrax.Heun(), t0=0.0, t1=1.0, dt0=dt, y0=x0.reshape(size), args=params,
            adjoint=diffrax.BacksolveAdjoint(), saveat=diffrax.SaveAt(t1=True))
        return jnp.mean(solution.ys[-1] ** 2)

    gradient = jax.jit(jax.grad(loss))
    key = jax.random.PRNGKey(1)
    return median_seconds(lambda: jax.block_until_ready(gradient(params, key)), runs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=NAMES)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    result = {"torch_version": torch.__version__}
    selected = [args.only] if args.only else NAMES
    if "torchsde_adjoint" in selected:
        result["torchsde_adjoint"] = torchsde_seconds(args.runs, adjoint=True)
    if "torchsde_backprop" in selected:
        result["torchsde_backprop"] = torchsde_seconds(args.runs, adjoint=False)
    if "torch_backprop" in selected:
        result["torch_backprop"] = torch_backprop_seconds(args.runs)
    if "jax_backprop" in selected:
        import jax

        result["jax_version"] = jax.__version__
        result["jax_backprop"] = jax_backprop_seconds(args.runs)
    if "diffrax_backsolve" in selected:
        try:
            import diffrax
        except ImportError:
            diffrax = None
        if diffrax is not None:
            result["diffrax_version"] = diffrax.__version__
            result["diffrax_backsolve"] = diffrax_seconds(args.runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
