"""Short RL² training probes: compare settings by their learning curves at equal wall-clock time.

A 30-minute training per setting is too dear to tune RL² by; a probe trains one setting for a few
minutes with a constant learning rate (a budget of 10⁹ env steps, out of reach, so nothing anneals)
and every ``--every`` seconds scores the current policy on ``--trials`` fresh trials. Those tasks
come from ``--eval-seed`` (default 777), which is neither the table's evaluation seed (0) nor its
tuning seed (10 000), so probing never looks at the tasks the table reports on.

Run probes one thread each (``OMP_NUM_THREADS=1``), at most one per core, so the curves compare
at equal compute::

    OMP_NUM_THREADS=1 python benchmarks/rl2_probe.py --minutes 9 --name base \\
        --rl2-args '{"task": "bandit", "num_pulls": 100, "num_arms": 5, "num_trials": 50}'

``--reward-by-step CKPT`` instead prints what a trained agent earns at each step of a trial: the mean
expected reward E[r | s, a] of its actions by episode (rows) and step in the episode (columns) —
where in a trial it has learnt to exploit.

``--against-gittins CKPT [CKPT ...]`` plays bandit agents (argmax actions) and Gittins on the same
``--trials`` tasks of ``--eval-seed`` and prints each one's mean, its paired difference from Gittins
(close to Bayes-optimal play, so: how much is left to learn), how many distinct arms it tries per
trial and what it earns per pull in the last quarter of a trial (explored enough, or settled early?).

``--exploration CKPT [CKPT ...]`` is the same question for MDP agents: by episode, what each agent (argmax
actions), BEB (β = 3, with the tasks' prior) and the greedy planner of the posterior-mean MDP earn and how many of the S·A
(state, action) pairs they have tried; for an agent trained with task inference also how far its
estimate of the reward means is from the exact posterior mean given what it saw (mean squared error
over all pairs): whether it remembers what it saw, and whether it went looking.

``--plan-on-estimate CKPT`` takes an MDP agent trained with task and transition inference and plays
greedy planners (replanned every step over the rest of the episode) in four MDPs assembled from its
memory's estimates and the exact posterior given the same steps — rewards and transitions each
learnt or exact: which part of what the memory believes would cost a planner the most.

``--temperature CKPT --temperatures 0.7 1 1.4`` plays an agent's sampled actions with its logits divided
by each temperature: whether sampling wider or narrower than the policy learnt would pay; with
``--argmax-from 0.6`` it samples only until 60 % of the trial and then takes the argmax.
"""

from __future__ import annotations

import argparse
import json
import time

import lightning.pytorch as pl
import torch

from leyden_rl.meta.baselines.bandits import make_bandit_baselines
from leyden_rl.meta.baselines.mdps import BEB, EpsilonGreedyMDP, MDPAgent, plan
from leyden_rl.meta.evaluate import TrialAgent, run_trials
from leyden_rl.meta.rl2 import RL2, RL2Agent
from leyden_rl.meta.tasks import BatchedTrialEnv, TaskDistribution


class LearningCurve(pl.Callback):
    """Every ``every`` seconds: env steps so far, mean training trial return, evaluation mean."""

    def __init__(self, name: str, every: float, trials: int, eval_seed: int) -> None:
        self.name, self.every, self.trials, self.eval_seed = name, every, trials, eval_seed
        self.start = self.last = time.time()
        self.train_returns: list[float] = []

    def evaluate(self, model: RL2, trials: int) -> torch.Tensor:
        returns = run_trials(RL2Agent(model.policy), model.dist, trials, self.eval_seed)
        model.policy.train()
        return returns

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_returns.append(trainer.callback_metrics["train/trial_return"].item())
        if time.time() - self.last < self.every:
            return
        self.last = time.time()
        recent = self.train_returns[-50:]
        print(
            f"{self.name} t={self.last - self.start:5.0f}s env_steps={pl_module.env_steps / 1e6:.2f}M "
            f"iterations={pl_module.iterations} train_return={sum(recent) / len(recent):.2f} "
            f"eval={self.evaluate(pl_module, self.trials).mean():.2f}",
            flush=True,
        )


def mean_se(values: torch.Tensor, digits: int = 2, sign: bool = False) -> str:
    """``mean ± standard error`` of per-trial values, as every line of these probes prints them
    (``sign``: the mean with its sign, for differences)."""
    mean_format = f"{'+' if sign else ''}.{digits}f"
    return f"{values.mean():{mean_format}} ± {values.std() / len(values) ** 0.5:.{digits}f}"


def known_task_return(
    means: torch.Tensor, transitions: torch.Tensor, horizon: int, actions: torch.Tensor | None
) -> float:
    """Mean return of one episode from state 0 with the task known (the baselines' :func:`plan`): of
    the optimal policy (``actions=None``) or of a fixed action per state (``actions`` (N, S))."""
    if actions is not None:  # the same MDP with only that action left in each state
        means = means.gather(-1, actions[..., None])
        transitions = transitions.gather(
            2, actions[..., None, None].expand(*actions.shape, 1, transitions.shape[-1])
        )
    q = plan(lambda v: means + torch.einsum("nsat,nt->nsa", transitions, v), means.shape[:2], horizon)
    return q[0, :, 0].amax(-1).mean().item()


@torch.no_grad()
def reward_by_step(checkpoint: str, trials: int, seed: int) -> None:
    model = RL2.load_from_checkpoint(checkpoint, map_location="cpu")
    expected, envs = [], []

    def record(state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv) -> None:
        expected.append(env.expected_reward.mean())
        envs[:] = [env]

    run_trials(RL2Agent(model.policy), model.dist, trials, seed, on_step=record)
    task = envs[0].task
    means, transitions = model.dist.reward_mean(task), model.dist.transitions(task)
    print(
        f"{checkpoint}: {trials} trials of seed {seed}; best action of a state: "
        f"{means.amax(-1).mean():.2f} on average; per episode with the task known: optimal "
        f"{known_task_return(means, transitions, model.dist.horizon, None):.2f}, always the best "
        f"mean reward {known_task_return(means, transitions, model.dist.horizon, means.argmax(-1)):.2f}"
    )
    rows = torch.stack(expected).view(model.dist.num_episodes, model.dist.horizon)
    for episode, row in enumerate(rows.tolist(), 1):
        print(f"episode {episode:3d}: " + " ".join(f"{r:5.2f}" for r in row))


def _play_recording_arms(
    agent: TrialAgent, dist: TaskDistribution, trials: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Totals (trials,), which arms each trial tried (trials, k) and each step's E[r] (trials,) per step."""
    pulled, expected = torch.zeros(trials, dist.num_actions), []

    def record(state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv) -> None:
        pulled[torch.arange(trials), action] = 1.0
        expected.append(env.expected_reward)

    return run_trials(agent, dist, trials, seed, on_step=record), pulled, expected


@torch.no_grad()
def against_gittins(checkpoints: list[str], trials: int, seed: int) -> None:
    models = [RL2.load_from_checkpoint(path, map_location="cpu") for path in checkpoints]
    dist = models[0].dist
    settings = {(m.dist.num_states, m.dist.num_actions, m.dist.num_episodes) for m in models}
    if dist.num_states != 1 or len(settings) > 1:
        raise SystemExit("--against-gittins takes bandit checkpoints of one setting (the same n and k)")
    agents = {"Gittins": make_bandit_baselines(seed=1)["Gittins"]}
    agents |= {path: RL2Agent(m.policy, argmax_from=0.0) for path, m in zip(checkpoints, models)}
    gittins = None
    for name, agent in agents.items():
        total, pulled, expected = _play_recording_arms(agent, dist, trials, seed)
        gittins = total if gittins is None else gittins
        diff = total - gittins
        distinct = pulled.sum(-1)
        last_quarter = torch.stack(expected)[-max(1, len(expected) // 4) :].mean()
        print(
            f"{name}: {mean_se(total, 3)}; minus Gittins "
            f"{mean_se(diff, 3, sign=True)}; distinct arms {distinct.mean():.1f}; "
            f"E[r] per pull in the last quarter {last_quarter:.3f}",
            flush=True,
        )


class EstimatingAgent(RL2Agent):
    """An RL² agent (argmax actions) that also keeps its task head's estimates: the reward means
    ``estimate`` (N, S, A) and, with transition inference, ``transition_estimate`` (N, S, A, S') — each
    None where the head has no such outputs. Split by the model's ``task_sizes``, the head's one layout."""

    def __init__(self, model: RL2) -> None:
        super().__init__(model.policy, argmax_from=0.0)
        self.task_sizes = model.task_sizes

    @torch.no_grad()
    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        (policy,) = self.policies  # one agent: its own task head's estimates
        logits, _, estimate, self.hidden[0] = policy.outputs(obs[None], self.hidden[0])
        self.estimate = self.transition_estimate = None
        if estimate is not None:
            s, a = env.dist.num_states, env.dist.num_actions
            means, next_logits, _ = estimate[0].split(self.task_sizes, dim=-1)
            if means.numel():
                self.estimate = means.view(-1, s, a)
            if next_logits.numel():
                self.transition_estimate = next_logits.view(-1, s, a, s).softmax(-1)
        return logits[0].argmax(-1)


def _print_exploration(name: str, agent: TrialAgent, dist: TaskDistribution, trials: int, seed: int) -> None:
    """One agent's lines of :func:`exploration`: per episode E[r], pairs tried and (with a task head) estimate MSE.

    What the agent saw is kept by an :class:`MDPAgent` that only records (the baselines' counts and
    Normal-Normal posterior), fed the same steps as the agent.
    """
    seen = MDPAgent()
    earned: list[float] = []

    def record(state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv) -> None:
        if env.t == 1:  # a new trial
            seen.reset(env)
        means = dist.reward_mean(env.task)
        estimate = getattr(agent, "estimate", None)  # made before this step's reward was seen
        episode_end = env.t % dist.horizon == 0
        if estimate is not None and episode_end:
            posterior = seen.reward_posterior()[0]  # before this step's reward, as the estimate
            mse = f", estimate MSE {((estimate - means) ** 2).mean():.3f} (exact posterior mean {((posterior - means) ** 2).mean():.3f})"
        seen.update(state, action, reward, env)
        earned.append(env.expected_reward.mean().item())
        if episode_end:
            tried = (seen.visits > 0).sum((1, 2)).float().mean()
            line = (
                f"{name} episode {env.t // dist.horizon:3d}: E[r] {sum(earned):.2f}, pairs tried {tried:.1f}"
            )
            print(line + (mse if estimate is not None else ""), flush=True)
            earned.clear()

    total = run_trials(agent, dist, trials, seed, on_step=record)
    print(f"{name}: {mean_se(total)} per trial", flush=True)


@torch.no_grad()
def exploration(checkpoints: list[str], trials: int, seed: int) -> None:
    models = [RL2.load_from_checkpoint(path, map_location="cpu") for path in checkpoints]
    dist = models[0].dist
    if dist.num_states == 1 or len({m.dist.num_episodes for m in models}) > 1:
        raise SystemExit("--exploration takes MDP checkpoints of one setting (the same n)")
    agents: dict[str, TrialAgent] = {
        "BEB (β = 3)": BEB(3.0),
        "posterior-mean greedy": EpsilonGreedyMDP(0.0, "posterior"),
    }
    agents |= {path: EstimatingAgent(m) for path, m in zip(checkpoints, models)}
    for name, agent in agents.items():
        _print_exploration(name, agent, dist, trials, seed)


class EstimatePlanner(MDPAgent):
    """Greedy planner in an MDP whose reward means and transitions each come from an RL² memory's
    estimate (``"learnt"``) or the exact posterior (``"exact"``, the baselines' counts of the same steps).
    The memory (an :class:`EstimatingAgent`, whose own actions are dropped) reads the planner's play,
    so the estimates are those of what it saw."""

    def __init__(self, model: RL2, rewards: str, transitions: str) -> None:
        super().__init__(seed=0)
        self.memory = EstimatingAgent(model)
        self.rewards, self.transitions = rewards, transitions

    def reset(self, env: BatchedTrialEnv) -> None:
        super().reset(env)
        self.memory.reset(env)

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        self.memory.act(obs, env)
        return super().act(obs, env)

    def q_values(self, env: BatchedTrialEnv) -> torch.Tensor:
        exact_rewards, exact_transitions = self.model_estimate("posterior")
        return self.solve(
            self.memory.estimate if self.rewards == "learnt" else exact_rewards,
            self.memory.transition_estimate if self.transitions == "learnt" else exact_transitions,
            env,
        )


@torch.no_grad()
def plan_on_estimate(checkpoint: str, trials: int, seed: int) -> None:
    model = RL2.load_from_checkpoint(checkpoint, map_location="cpu")
    if not (model.hparams.task_inference_coef and model.hparams.transition_inference_coef):
        raise SystemExit("--plan-on-estimate takes an MDP agent trained with task and transition inference")
    for rewards in ("exact", "learnt"):
        for transitions in ("exact", "learnt"):
            planner = EstimatePlanner(model, rewards, transitions)
            total = run_trials(planner, model.dist, trials, seed)
            print(
                f"{checkpoint}: greedy plan with {rewards} rewards, {transitions} transitions: "
                + mean_se(total),
                flush=True,
            )


@torch.no_grad()
def temperature(
    checkpoint: str, temperatures: list[float], argmax_from: float, trials: int, seed: int
) -> None:
    model = RL2.load_from_checkpoint(checkpoint, map_location="cpu")
    for tau in temperatures:
        agent = RL2Agent(model.policy, argmax_from=argmax_from, temperature=tau)
        total = run_trials(agent, model.dist, trials, seed)
        print(f"{checkpoint}: temperature {tau}, argmax from {argmax_from:.0%}: {mean_se(total)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="probe", help="label printed on every line")
    parser.add_argument("--minutes", type=float, default=9.0, help="wall-clock training time")
    parser.add_argument("--rl2-args", default="{}", help="JSON of RL2 init arguments")
    parser.add_argument("--every", type=float, default=120.0, help="seconds between evaluations")
    parser.add_argument("--trials", type=int, default=1000, help="trials per periodic evaluation")
    parser.add_argument("--eval-seed", type=int, default=777)
    parser.add_argument("--reward-by-step", metavar="CKPT", help="print a trained agent's reward by step")
    parser.add_argument(
        "--against-gittins",
        nargs="+",
        metavar="CKPT",
        help="bandit agents paired with Gittins on the same tasks",
    )
    parser.add_argument(
        "--exploration",
        nargs="+",
        metavar="CKPT",
        help="MDP agents beside BEB and the posterior-mean planner: reward and pairs tried by episode",
    )
    parser.add_argument(
        "--plan-on-estimate",
        metavar="CKPT",
        help="greedy plans in MDPs built from an agent's learnt estimates and the exact posterior",
    )
    parser.add_argument(
        "--temperature", metavar="CKPT", help="an agent's sampled play at several temperatures"
    )
    parser.add_argument("--temperatures", nargs="+", type=float, default=[0.7, 1.0, 1.4])
    parser.add_argument(
        "--argmax-from",
        type=float,
        default=1.0,
        help="--temperature: the share of the trial from which to take the argmax",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.temperature:
        return temperature(args.temperature, args.temperatures, args.argmax_from, args.trials, args.eval_seed)
    if args.plan_on_estimate:
        return plan_on_estimate(args.plan_on_estimate, args.trials, args.eval_seed)
    if args.reward_by_step:
        return reward_by_step(args.reward_by_step, args.trials, args.eval_seed)
    if args.against_gittins:
        return against_gittins(args.against_gittins, args.trials, args.eval_seed)
    if args.exploration:
        return exploration(args.exploration, args.trials, args.eval_seed)
    model = RL2(**{"total_env_steps": 10**9, **json.loads(args.rl2_args)})
    curve = LearningCurve(args.name, args.every, args.trials, args.eval_seed)
    trainer = pl.Trainer(
        max_epochs=-1, max_time={"minutes": args.minutes}, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[curve],
    )  # fmt: skip
    trainer.fit(model)
    final = curve.evaluate(model, 2 * args.trials)
    print(
        f"{args.name} FINAL env_steps={model.env_steps / 1e6:.2f}M "
        f"eval={mean_se(final, 3)} ({len(final)} trials)",
        flush=True,
    )


if __name__ == "__main__":
    main()
