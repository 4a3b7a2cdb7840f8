"""TRPO's numerical pieces (leyden_rl.natural_gradient) and the trust region of one TRPO step."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from leyden_rl.natural_gradient import (
    assign_flat,
    backtracking_line_search,
    categorical_kl,
    conjugate_gradient,
    diagonal_gaussian_kl,
    fisher_vector_product,
    flat,
    natural_step,
)


def test_conjugate_gradient_solves_an_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(12, 12, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, steps=40)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=1e-6, atol=1e-8)


def test_flat_and_assign_flat_round_trip():
    params = [torch.zeros(2, 3), torch.zeros(4)]
    vector = torch.arange(10.0)
    assign_flat(params, vector)
    assert torch.equal(flat(params), vector)
    with pytest.raises(ValueError, match="11 entries"):
        assign_flat(params, torch.zeros(11))


def test_kl_formulas_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    old, new = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    expected = kl_divergence(Categorical(logits=old), Categorical(logits=new))
    torch.testing.assert_close(categorical_kl(old, new), expected)
    mu0, mu1, s0, s1 = (torch.randn(5, 3, generator=g) for _ in range(4))
    expected = kl_divergence(Normal(mu0, s0.exp()), Normal(mu1, s1.exp())).sum(-1)
    torch.testing.assert_close(diagonal_gaussian_kl(mu0, s0, mu1, s1), expected)


def test_fisher_vector_product_is_the_kl_hessian():
    """For logits = W x, F v (by double backward) equals the explicit Hessian of the mean KL times v."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64)
    w0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    old_logits = (x @ w0).detach()
    w = w0.clone().requires_grad_(True)

    def mean_kl(weights: torch.Tensor) -> torch.Tensor:
        return categorical_kl(old_logits, x @ weights.view(3, 4)).mean()

    fvp = fisher_vector_product(mean_kl(w), [w], damping=0.1)
    v = torch.randn(12, generator=g, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(mean_kl, w0.reshape(-1))
    torch.testing.assert_close(fvp(v), hessian @ v + 0.1 * v)


def _quadratic_problem(curvature: float):
    """Objective g·θ and KL ½ c |θ − θ₀|² around θ₀ = 0."""
    theta = torch.zeros(3)
    g = torch.tensor([1.0, -2.0, 0.5])

    def evaluate() -> tuple[float, float]:
        return float(g @ theta), float(0.5 * curvature * theta.pow(2).sum())

    return theta, g, evaluate


def test_line_search_respects_the_kl_bound():
    theta, g, evaluate = _quadratic_problem(curvature=4.0)
    full_step = 10.0 * g  # far outside the trust region
    accepted, fraction = backtracking_line_search([theta], full_step, evaluate, 0.01, 0.8, 50)
    objective, kl = evaluate()
    assert accepted and 0.0 < fraction < 1.0
    assert kl <= 0.01 and objective > 0.0
    assert torch.allclose(theta, fraction * full_step)
    # the first accepted shrink: the one before it broke the bound
    assert 0.5 * 4.0 * (fraction / 0.8 * full_step).pow(2).sum() > 0.01


def test_natural_step_lands_on_the_bound_and_an_uphill_free_search_restores_the_parameters():
    theta, g, evaluate = _quadratic_problem(curvature=4.0)
    step = natural_step(g, 4.0 * g, max_kl=0.01)  # s = g, F s = 4 g
    assert math.isclose(0.5 * float(step @ (4.0 * step)), 0.01, rel_tol=1e-6)
    accepted, fraction = backtracking_line_search([theta], -step, evaluate, 0.01, 0.5, 5)  # downhill only
    assert not accepted and fraction == 0.0 and torch.equal(theta, torch.zeros(3))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_trpo_policy_step_stays_in_the_trust_region(env_id):
    from leyden_rl.trpo import TRPO

    model = TRPO(env_id=env_id, num_envs=1, num_steps=64, batch_size=64, hidden_sizes=(16,), target_kl=0.005)
    g = torch.Generator().manual_seed(3)
    obs = torch.randn(64, *model.observation_space.shape, generator=g)
    with torch.no_grad():
        actions, log_probs, _ = model.policy.act(obs)
        before = model.policy.distribution(obs)[0]
    data = {
        "obs": obs,
        "actions": actions,
        "log_probs": log_probs,
        "advantages": torch.randn(64, generator=g),
    }
    metrics = model.policy_step(data)
    assert metrics["train/line_search_accepted"] == 1.0
    assert 0.0 < metrics["train/kl"] <= 0.005 and metrics["train/surrogate"] > 0.0
    assert not torch.allclose(model.policy.distribution(obs)[0], before)
