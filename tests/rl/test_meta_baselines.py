"""Classic bandit and tabular-MDP baselines on cases with known answers."""

import pytest
import torch

from leyden_rl.meta.baselines.bandits import (
    EpsilonGreedyBandit,
    GittinsBandit,
    ThompsonBandit,
    UCB1Bandit,
    _beta,
    make_bandit_baselines,
)
from leyden_rl.meta.baselines.gittins import gittins_table
from leyden_rl.meta.baselines.mdps import BEB, PSRL, UCRL2, _optimistic_rows, make_mdp_baselines, plan
from leyden_rl.meta.evaluate import run_trials
from leyden_rl.meta.tasks import BatchedTrialEnv, BernoulliBandits, RandomTabularMDPs


def test_gittins_index_small_cases_by_hand():
    g = gittins_table(3)
    assert g[1, 0, 0] == pytest.approx(0.5, abs=1e-4)  # one pull left: the posterior mean
    assert g[1, 2, 0] == pytest.approx(0.75, abs=1e-4)
    # two pulls left from Beta(1, 1): 5/6 + λ/2 = 2λ  ⇒  λ = 5/9
    assert g[2, 0, 0] == pytest.approx(5 / 9, abs=1e-4)
    assert g[3, 0, 0] > g[2, 0, 0] > g[1, 0, 0]  # more pulls left → more worth exploring


def test_gittins_index_matches_gittins_table_for_discount_0_9():
    # Gittins' tables (Gittins 1979; Gittins, Glazebrook & Weber 2011): Beta(1, 1) prior, γ = 0.9 → 0.7029
    g = gittins_table(60, discount=0.9, grid=1001)
    assert g[60, 0, 0] == pytest.approx(0.7029, abs=1e-3)


def test_beta_sampler_moments():
    a = torch.full((20_000,), 3.0)
    b = torch.full((20_000,), 2.0)
    x = _beta(a, b, torch.Generator().manual_seed(0))
    assert abs(x.mean().item() - 0.6) < 0.005 and abs(x.var().item() - 0.04) < 0.002


def _agent_with_counts(agent, successes, failures):
    env = BatchedTrialEnv(BernoulliBandits(num_arms=len(successes), num_pulls=10), 400, seed=0)
    env.reset()
    agent.reset(env)
    agent.successes[:] = torch.tensor(successes, dtype=torch.float32)
    agent.failures[:] = torch.tensor(failures, dtype=torch.float32)
    return agent, env


@pytest.mark.parametrize("tried_arm", [0, 2])
def test_greedy_ties_go_to_the_lowest_index_as_in_the_paper_code_or_at_random(tried_arm):
    # one arm pulled twice (a success and a failure: posterior mean 2/4) ties the untried arms (1/2)
    successes = [0.0, 0.0, 0.0]
    failures = [0.0, 0.0, 0.0]
    successes[tried_arm] = failures[tried_arm] = 1.0
    agent, env = _agent_with_counts(EpsilonGreedyBandit(0.0, tie_break="lowest_index"), successes, failures)
    assert (agent.act(None, env) == 0).all()
    agent, env = _agent_with_counts(EpsilonGreedyBandit(0.0), successes, failures)
    assert set(agent.act(None, env).tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="tie_break"):
        EpsilonGreedyBandit(0.0, tie_break="first")


def test_ots_acts_on_the_most_probable_of_its_samples():
    # Beta(31, 11) posteriors (mode 0.75): the most probable of 20 joint samples lies closer to the
    # mode than a single Thompson sample does
    spread = {}
    for num_samples in (1, 20):
        agent, _ = _agent_with_counts(ThompsonBandit(num_samples), [30.0, 30.0], [10.0, 10.0])
        spread[num_samples] = (agent.sample_means() - 0.75).abs().mean().item()
    assert spread[20] < 0.5 * spread[1]
    with pytest.raises(ValueError, match="num_samples"):
        ThompsonBandit(0)


def _easy_bandit(num: int = 200):
    dist = BernoulliBandits(num_arms=3, num_pulls=60)
    env = BatchedTrialEnv(dist, num, seed=0)
    task = {"means": torch.tensor([[0.05, 0.95, 0.1]]).repeat(num, 1)}
    return dist, env, task


@pytest.mark.parametrize(
    "agent",
    [
        UCB1Bandit(c=1.0),
        GittinsBandit(),
        ThompsonBandit(),
        ThompsonBandit(num_samples=10),
        EpsilonGreedyBandit(0.05),
    ],
)
def test_bandit_agents_find_the_best_arm_in_an_easy_case(agent):
    dist, env, task = _easy_bandit()
    obs = env.reset(task)
    agent.reset(env)
    picks = []
    for _ in range(dist.num_pulls):
        a = agent.act(obs, env)
        state = env.state.clone()
        obs, r, _ = env.step(a)
        agent.update(state, a, r, env)
        picks.append(a)
    late = torch.stack(picks[-20:])
    assert (late == 1).float().mean() > 0.9


def test_bandit_baselines_order_on_the_paper_setting():
    dist = BernoulliBandits(5, 10)
    scores = {
        name: run_trials(agent, dist, 1000, 0).mean().item()
        for name, agent in make_bandit_baselines().items()
    }
    assert abs(scores["Random"] - 5.0) < 0.3
    assert scores["Gittins"] > scores["TS"] + 0.4 and scores["Gittins"] > scores["Random"] + 1.2


def _known_chain_mdp(num: int):
    """Deterministic 10-state chain: action 0 stays (reward 0), action 1 moves right (reward 1 until the end)."""
    s, a = 10, 5
    trans = torch.zeros(s, a, s)
    rewards = torch.full((s, a), -1.0)
    for i in range(s):
        trans[i, :, i] = 1.0
        trans[i, 1, i] = 0.0
        trans[i, 1, min(i + 1, s - 1)] = 1.0
        rewards[i, 1] = 1.0
        rewards[i, 0] = 0.0
    return {
        "reward_mean": rewards.expand(num, s, a).clone(),
        "transitions": trans.expand(num, s, a, s).clone(),
    }


def test_plan_solves_a_known_mdp():
    task = _known_chain_mdp(2)
    q = plan(
        lambda v: task["reward_mean"] + torch.einsum("nsat,nt->nsa", task["transitions"], v), (2, 10), 10
    )
    assert q.shape == (10, 2, 10, 5)
    assert q[0, 0, 0].argmax() == 1 and q[0, 0, 0, 1] == pytest.approx(10.0)
    assert q[9, 0, 3, 1] == pytest.approx(1.0)  # last step: just the immediate reward


def test_psrl_with_a_known_mdp_acts_optimally():
    # A posterior concentrated on the true MDP (huge counts) makes PSRL's sample the true MDP.
    dist = RandomTabularMDPs(num_episodes=2)
    task = dist.sample(50, torch.Generator().manual_seed(0))
    env = BatchedTrialEnv(RandomTabularMDPs(num_episodes=2, reward_noise_std=1e-3), 50, seed=0)
    env.reset(task)
    agent = PSRL()
    agent.reset(env)
    agent.visits += 1e6
    agent.reward_sum += 1e6 * task["reward_mean"]
    agent.next_counts += 1e6 * task["transitions"]
    optimal = plan(
        lambda v: task["reward_mean"] + torch.einsum("nsat,nt->nsa", task["transitions"], v), (50, 10), 10
    )
    obs = env.reset(task)
    total = torch.zeros(50)
    for _ in range(env.trial_length):
        obs, r, _ = env.step(agent.act(obs, env))
        total += r
    # Expected optimal return of the two episodes from state 0 vs the realised one: same on average.
    expected = 2 * optimal[0, torch.arange(50), 0].max(-1).values
    assert abs(total.mean().item() - expected.mean().item()) < 0.05 * expected.mean().item()
    q = agent.q_values(env)
    assert (q[0].argmax(-1) == optimal[0].argmax(-1)).float().mean() > 0.98


def test_optimistic_rows_maximise_within_the_l1_ball():
    p = torch.tensor([0.5, 0.3, 0.2]).view(1, 1, 1, 3)
    v = torch.tensor([[1.0, 0.0, 2.0]])
    out = _optimistic_rows(p, torch.full((1, 1, 1, 1), 0.4), v)
    torch.testing.assert_close(out.view(3), torch.tensor([0.5, 0.1, 0.4]))  # +0.2 to best, −0.2 from worst
    assert (out.sum(-1) - 1).abs().max() < 1e-6


def test_mdp_baselines_beat_random():
    dist = RandomTabularMDPs(num_episodes=5)
    totals = {name: run_trials(agent, dist, 150, 0) for name, agent in make_mdp_baselines().items()}
    random = totals.pop("Random")
    assert abs(random.mean().item() - 50.0) < 3.0
    for name, total in totals.items():  # better than random by more than 3 standard errors
        se = (random.var() / len(random) + total.var() / len(total)).sqrt().item()
        assert total.mean().item() > random.mean().item() + 3 * se, (name, total.mean().item())


def _fresh_mdp_agent(agent, num: int = 200):
    env = BatchedTrialEnv(RandomTabularMDPs(num_episodes=1), num, seed=0)
    env.reset()
    agent.reset(env)
    return agent, env


def test_ucrl2_is_optimistic_about_unvisited_pairs():
    agent, env = _fresh_mdp_agent(UCRL2(scale=1.0), 4)
    q = agent.q_values(env)
    assert (q[-1] > 0).all()  # no data: every reward is its (positive) upper confidence bound


def test_beb_bonus_by_hand_with_the_paper_prior():
    # no data, reward means believed N(0, 1): reward bonus 1 / (1 + precision 1) = 0.5 everywhere,
    # transition bonus β·(steps left) / (1 + Σα = 11)
    agent, env = _fresh_mdp_agent(BEB(beta=2.2, reward_prior_mean=0.0), 2)
    q = agent.q_values(env)
    torch.testing.assert_close(q[-1], torch.full_like(q[-1], 0.5))  # last step: nothing left after it
    torch.testing.assert_close(q[-2], torch.full_like(q[-2], 0.5 + 2.2 / 11 + 0.5))


def test_psrl_samples_its_prior_and_opsrl_takes_the_best_of_its_samples():
    agents = {
        "psrl": PSRL(1, reward_prior_mean=0.0),
        "opsrl": PSRL(10, reward_prior_mean=0.0),
        "task_prior": PSRL(1),
    }
    values = {}
    for name, agent in agents.items():
        agent, env = _fresh_mdp_agent(agent)
        values[name] = agent.q_values(env)[-1].mean().item()  # last step: sampled reward means
    assert abs(values["psrl"]) < 0.05 and abs(values["task_prior"] - 1.0) < 0.05  # prior means 0 and 1
    assert values["opsrl"] > 1.0  # E[max of 10 N(0, 1) draws] ≈ 1.54
    with pytest.raises(ValueError, match="num_samples"):
        PSRL(0)


def test_model_estimates_before_and_after_data():
    from leyden_rl.meta.baselines.mdps import EpsilonGreedyMDP

    agent, env = _fresh_mdp_agent(EpsilonGreedyMDP(0.0), 2)
    r_post, p_post = agent.model_estimate("posterior")
    r_emp, p_emp = agent.model_estimate("empirical")
    assert torch.allclose(r_post, torch.ones_like(r_post)) and torch.allclose(r_emp, torch.zeros_like(r_emp))
    assert torch.allclose(p_post, torch.full_like(p_post, 0.1)) and torch.allclose(p_emp, p_post)
    # one observed reward of 3 at (s=0, a=2): posterior mean (1 + 3) / 2, empirical 3
    agent.update(torch.zeros(2, dtype=torch.long), torch.full((2,), 2), torch.full((2,), 3.0), env)
    assert agent.model_estimate("posterior")[0][0, 0, 2] == pytest.approx(2.0)
    assert agent.model_estimate("empirical")[0][0, 0, 2] == pytest.approx(3.0)


def test_run_trials_shows_on_step_every_step_of_the_trials_it_totals():
    dist = BernoulliBandits(num_arms=3, num_pulls=4)
    seen = []
    totals = run_trials(
        make_bandit_baselines()["Random"], dist, 5, 0,
        on_step=lambda state, action, reward, env: seen.append((state, action, reward, env.expected_reward.clone())),
    )  # fmt: skip
    assert len(seen) == 4 and all(action.shape == (5,) for _, action, _, _ in seen)
    assert all((state == 0).all() for state, _, _, _ in seen)  # a bandit has one state
    means = torch.stack([expected for *_, expected in seen])  # E[r] of the arms pulled
    assert ((means >= 0) & (means <= 1)).all()
    rewards = torch.stack([reward for _, _, reward, _ in seen])
    assert ((rewards == 0) | (rewards == 1)).all()
    assert torch.equal(rewards.sum(0), totals)  # the rewards it totals
    assert torch.equal(totals, run_trials(make_bandit_baselines()["Random"], dist, 5, 0))  # no side effect
