"""GAE against hand-computed values (incl. truncation bootstrap), n-step folding, and the losses."""

import torch

from leyden_core.ema import polyak_update
from leyden_rl import losses
from leyden_rl.advantages import gae, n_step_returns


def test_gae_hand_computed_with_truncation_and_termination():
    # one env, 3 steps: step 1 truncated (bootstrap V=10 from the final obs), step 2 terminated
    r = torch.ones(3, 1)
    v = torch.zeros(3, 1)
    nv = torch.full((3, 1), 10.0)
    term = torch.tensor([[0], [0], [1]])
    trunc = torch.tensor([[0], [1], [0]])
    adv, ret = gae(r, v, nv, term, trunc, gamma=0.9, gae_lambda=0.5)
    # t=2: δ = 1 (terminal, no bootstrap); t=1: δ = 1 + .9*10 = 10, recursion cut;
    # t=0: δ = 1 + .9*10 = 10, A = 10 + .9*.5*10 = 14.5
    assert torch.allclose(adv[:, 0], torch.tensor([14.5, 10.0, 1.0]))
    assert torch.allclose(ret, adv + v)


def test_gae_lambda_one_is_discounted_return():
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.zeros(3, 1)
    nv = torch.zeros(3, 1)
    z = torch.zeros(3, 1)
    adv, _ = gae(r, v, nv, z, z, gamma=0.5, gae_lambda=1.0)
    assert torch.allclose(adv[:, 0], torch.tensor([1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]))


def test_n_step_returns_stop_at_episode_end():
    rewards = torch.tensor([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    term = torch.tensor([[0, 0], [1, 0], [0, 0]])
    trunc = torch.zeros(3, 2)
    ret, discount, length = n_step_returns(rewards, term, trunc, gamma=0.5)
    assert torch.allclose(ret, torch.tensor([1 + 0.5 * 2, 1 + 0.5 * 2 + 0.25 * 4]))
    assert torch.allclose(discount, torch.tensor([0.0, 0.125]))
    assert length.tolist() == [2, 3]


def test_n_step_truncation_keeps_bootstrap():
    rewards = torch.tensor([[1.0], [1.0]])
    ret, discount, length = n_step_returns(rewards, torch.zeros(2, 1), torch.tensor([[1], [0]]), gamma=0.9)
    assert ret.item() == 1.0 and abs(discount.item() - 0.9) < 1e-6 and length.item() == 1


def test_n_step_returns_match_a_per_sample_walk():
    """Random windows with episode ends anywhere: the batched fold equals walking each window by hand."""
    gen = torch.Generator().manual_seed(0)
    n, batch, gamma = 5, 200, 0.9
    rewards = torch.randn(n, batch, generator=gen)
    term = torch.rand(n, batch, generator=gen) < 0.15
    trunc = torch.rand(n, batch, generator=gen) < 0.15
    ret, discount, length = n_step_returns(rewards, term, trunc, gamma)
    for b in range(batch):
        expected_ret, k, disc = 0.0, 0, 1.0
        for t in range(n):
            expected_ret += gamma**t * float(rewards[t, b])
            k, disc = t + 1, gamma ** (t + 1)
            if term[t, b]:
                disc = 0.0
            if term[t, b] or trunc[t, b]:
                break
        assert abs(float(ret[b]) - expected_ret) < 1e-5
        assert abs(float(discount[b]) - disc) < 1e-6 and int(length[b]) == k


def test_ppo_policy_loss_clips():
    old = torch.zeros(2)
    new = torch.log(torch.tensor([2.0, 0.5]))
    adv = torch.tensor([1.0, -1.0])
    loss, kl, clip_frac = losses.ppo_policy_loss(new, old, adv, clip_range=0.2)
    # ratios 2 and 0.5 are clipped to 1.2 and 0.8: min(2, 1.2)*1 = 1.2; min(-0.5, -0.8) = -0.8
    assert abs(loss.item() + (1.2 - 0.8) / 2) < 1e-6
    assert clip_frac.item() == 1.0 and kl.item() > 0


def test_value_loss_clipping_is_pessimistic():
    v, ret, old = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([0.0])
    assert losses.value_loss(v, ret).item() == 2.0
    # clipped value 0.5 has error 0.25 < 4, so the unclipped (larger) error is kept
    assert losses.value_loss(v, ret, old, clip_range=0.5).item() == 2.0
    v2, ret2 = torch.tensor([2.0]), torch.tensor([3.0])
    assert losses.value_loss(v2, ret2, old, clip_range=0.5).item() == 0.5 * 2.5**2


def test_double_dqn_target_uses_online_argmax():
    online = torch.tensor([[1.0, 5.0]])
    target = torch.tensor([[10.0, 2.0]])
    assert losses.double_dqn_next_q(online, target).item() == 2.0
    assert losses.td_target(torch.tensor([1.0]), torch.tensor([2.0]), 0.5).item() == 2.0


def test_sac_losses():
    t = losses.sac_q_target(
        torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([2.0]), torch.tensor([-1.0]), 0.5, 0.9
    )
    assert torch.isclose(t, torch.tensor([1 + 0.9 * (2 + 0.5)])).all()
    log_alpha = torch.zeros((), requires_grad=True)
    loss = losses.sac_alpha_loss(log_alpha, torch.tensor([-3.0]), target_entropy=-1.0)
    loss.backward()
    assert log_alpha.grad.item() > 0  # entropy 3 > target -1: descending lowers log α
    assert losses.sac_critic_loss(torch.ones(2), torch.zeros(2), torch.ones(2)).item() == 0.5


def test_polyak_update():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.detach().clone()
    polyak_update(a, b, 0.25)
    assert torch.allclose(a.weight, 0.75 * before + 0.25 * b.weight)
    polyak_update(a, b, 1.0)
    assert torch.equal(a.weight, b.weight)


def test_ppo_loss_at_ratio_one_has_the_policy_gradient_of_a2c():
    """A2C reuses PPO's update for one step on fresh data: there the clipped surrogate's gradient is
    exactly the vanilla policy gradient ∇(−mean(A · log π))."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=g, requires_grad=True)
    actions = torch.randint(0, 3, (6,), generator=g)
    advantages = torch.randn(6, generator=g)
    log_prob = logits.log_softmax(-1).gather(-1, actions[:, None]).squeeze(-1)
    zero = torch.zeros(6)
    loss, _ = losses.ppo_loss(
        log_prob, log_prob.detach(), advantages, zero, zero, zero, zero, 0.2, None, 0.0, 0.0, False
    )
    (ppo_grad,) = torch.autograd.grad(loss, logits, retain_graph=True)
    (pg_grad,) = torch.autograd.grad(-(advantages * log_prob).mean(), logits)
    torch.testing.assert_close(ppo_grad, pg_grad)
