"""Adam, gradient clipping, a moving average and step timing for the JAX peers, in plain jax.numpy.

Each update follows its PyTorch counterpart in torch_foundation.py and
torch_posterior_steps.py: torch.optim.Adam with its default betas and epsilon,
torch.nn.utils.clip_grad_norm_ and torch._foreach_lerp_ of the average towards the
parameters. Parameters and gradients are pytrees such as jax_unet's dicts.
"""
import statistics
import time

import jax
import jax.numpy as jnp

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


def adam_state(parameters):
    """Return Adam's initial state: step 0 and zero first and second moments."""
    return {
        "step": jnp.zeros((), jnp.int32),
        "m": jax.tree.map(jnp.zeros_like, parameters),
        "v": jax.tree.map(jnp.zeros_like, parameters),
    }


def adam_update(parameters, gradients, state, learning_rate):
    """Take one Adam step and return the new parameters and state.

    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, and
    p = p - lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps) at step k.
    """
    beta1, beta2 = ADAM_BETAS
    step = state["step"] + 1
    m = jax.tree.map(lambda m, g: beta1 * m + (1 - beta1) * g, state["m"], gradients)
    v = jax.tree.map(lambda v, g: beta2 * v + (1 - beta2) * g * g, state["v"], gradients)
    first_correction = 1 - beta1 ** step.astype(jnp.float32)
    second_correction = 1 - beta2 ** step.astype(jnp.float32)

    def update(p, m, v):
        return p - learning_rate * (m / first_correction) / (jnp.sqrt(v / second_correction) + ADAM_EPSILON)

    return jax.tree.map(update, parameters, m, v), {"step": step, "m": m, "v": v}


def clip_gradient_norm(gradients, max_norm):
    """Scale the gradients by min(1, max_norm / (norm + 1e-6)), the global L2 norm as clip_grad_norm_."""
    norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(gradients)))
    scale = jnp.minimum(1.0, max_norm / (norm + 1e-6))
    return jax.tree.map(lambda g: g * scale, gradients)


def moving_average_update(average, parameters, decay):
    """Move the average towards the parameters: a = a + (1 - decay) (p - a)."""
    return jax.tree.map(lambda a, p: a + (1 - decay) * (p - a), average, parameters)


def time_steps(step, warmup, steps):
    """Return the median seconds of `steps` calls of `step` after `warmup` untimed ones.

    `step` must block until its results are ready, with `jax.block_until_ready`, so each
    sample times the computation and not only its dispatch.
    """
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
