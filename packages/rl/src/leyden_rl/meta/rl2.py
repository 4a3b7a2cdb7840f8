"""RL² (Duan et al., 2016): learn a fast RL algorithm as the memory of a recurrent policy, trained by slow PPO.

The "fast" learner is a recurrent policy whose input at every step is the observation, the previous
action, the previous reward and whether the previous step ended an episode. Its memory is carried
across the episodes of a trial — so it can remember what it learnt about the task — and reset to
zero between trials. The "slow" learner is PPO with GAE over whole trials: the return maximised is
the total reward of the trial, so exploring early to exploit later pays off.

Each ``training_step`` is one PPO iteration (manual optimisation):

1. sample ``num_trials`` tasks and play one whole trial of each, the memory starting at zero
   (:meth:`RL2.play_trials`);
2. GAE(λ) over the trial, whose end is the only terminal (:meth:`RL2.trial_advantages`);
3. the PPO update shared with :class:`leyden_rl.ppo.PPO` (:class:`~leyden_rl.ppo.PPOUpdate`): minibatches
   of whole trials, each re-evaluated by replaying the policy from the zero memory, plus any auxiliary
   losses (:mod:`leyden_rl.meta.auxiliary`).

The pieces are chosen by ``class_path``: the task family (:mod:`leyden_rl.meta.task_distribution`: bandits and
tabular MDPs, random mazes seen from the inside, or any gymnasium env family),
the policy (:class:`~leyden_rl.meta.gru.GRUPolicy`, :class:`~leyden_rl.meta.gru.TabularGRUPolicy`,
:class:`~leyden_rl.meta.arm_memory.ArmMemoryPolicy`, :class:`~leyden_rl.meta.gru.CNNGRUPolicy`)
and the auxiliary losses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from leyden_core.distributed import rank, rank_seed
from leyden_core.errors import LeydenConfigError
from leyden_rl.advantages import gae
from leyden_rl.base import EnvStepBudget, linear_schedule, steps_dataloader
from leyden_rl.meta.auxiliary import AuxiliaryLoss
from leyden_rl.meta.gru import GRUPolicy
from leyden_rl.meta.pieces import describe, instantiate
from leyden_rl.meta.policy_base import TrialPolicy, TrialSpec, feedback, previous_step
from leyden_rl.meta.task_distribution import BatchedTasks, TaskDistribution
from leyden_rl.meta.tasks import TabularTasks, novelty
from leyden_rl.ppo import PPOUpdate

# PPO's switches RL2 does not expose: the learning rate decays to 0, the clip range and entropy bonus stay.
FIXED_PPO_SETTINGS = {"anneal_lr": True, "anneal_clip": False, "anneal_ent": False, "clip_range_vf": None,
                      "normalize_advantage": True}  # fmt: skip


class RL2(EnvStepBudget, PPOUpdate, pl.LightningModule):
    """RL² on any task family.

    Args:
        tasks: the task family (a :class:`~leyden_rl.meta.task_distribution.TaskDistribution`).
        policy: builds the recurrent policy from the family's shapes (a policy class, or a config's
            ``class_path`` with its own ``init_args``); default :class:`~leyden_rl.meta.gru.GRUPolicy`.
        auxiliary_losses: training-only losses on the policy's task head (e.g. ``TaskInference``).
        num_trials: trials (sampled tasks) per PPO iteration; each is a whole trial of env steps.
        total_env_steps: training budget in env steps (per DDP rank, as PPO's); training stops there.
        learning_rate, update_epochs, num_minibatches, clip_range, ent_coef, vf_coef, max_grad_norm,
        gamma, gae_lambda: PPO's (minibatches split the trials, so each holds whole trials; the learning
            rate decays linearly to 0).
        reward_scale: multiplies rewards in the PPO targets only (long trials return hundreds; scaled
            targets keep the value loss from swamping the policy gradient).
        expected_rewards: train on E[r | s, a] of each step instead of the reward drawn, where the family
            knows it. The policy gradient stays unbiased — the noise is drawn after the action — and each
            advantage loses the noise of every later reward. The policy still observes the drawn reward.
        novelty_bonus: tabular families only: pay ``novelty_bonus`` × the reward means' prior spread ×
            ``1/sqrt(1 + earlier tries of (s, a) in the trial)`` in the PPO targets, decaying linearly to 0
            over training (MBIE-EB's bonus). PPO's credit for trying a new pair otherwise arrives only
            episodes later, through choices the agent may not yet make.
        curriculum_episodes: play trials of this many episodes for the first half of the budget, then the
            family's own: what an agent learns over short trials carries to long ones, at more PPO
            iterations per env step.
        seed: seeds the network, task sampling and action draws (DDP rank r: seed + 1000·r).
    """

    def __init__(
        self,
        tasks: TaskDistribution,
        policy: Callable[[TrialSpec], TrialPolicy] = GRUPolicy,
        auxiliary_losses: Sequence[AuxiliaryLoss] = (),
        num_trials: int = 250,
        total_env_steps: int = 2_000_000,
        learning_rate: float = 3e-3,
        update_epochs: int = 8,
        num_minibatches: int = 2,
        clip_range: float = 0.2,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        reward_scale: float = 1.0,
        expected_rewards: bool = False,
        novelty_bonus: float = 0.0,
        curriculum_episodes: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        tasks, policy = instantiate(tasks), instantiate(policy, factory=True)
        auxiliary_losses = [instantiate(loss) for loss in auxiliary_losses]
        # Plain data only (class paths and init args): a checkpoint loads with weights_only and rebuilds these.
        self.save_hyperparameters({
            "tasks": describe(tasks), "policy": describe(policy),
            "auxiliary_losses": [describe(loss) for loss in auxiliary_losses],
            "num_trials": num_trials, "total_env_steps": total_env_steps, "learning_rate": learning_rate,
            "update_epochs": update_epochs, "num_minibatches": num_minibatches, "clip_range": clip_range,
            "ent_coef": ent_coef, "vf_coef": vf_coef, "max_grad_norm": max_grad_norm, "gamma": gamma,
            "gae_lambda": gae_lambda, "reward_scale": reward_scale, "expected_rewards": expected_rewards,
            "novelty_bonus": novelty_bonus, "curriculum_episodes": curriculum_episodes, "seed": seed,
        })  # fmt: skip
        self.automatic_optimization = False
        self.tasks, self.auxiliary_losses = tasks, auxiliary_losses
        self.curriculum_tasks = self._check(
            tasks, num_trials, num_minibatches, expected_rewards, novelty_bonus, curriculum_episodes
        )
        self.estimate_sizes = [loss.estimate_size(tasks) for loss in auxiliary_losses]
        spec = TrialSpec(
            tasks.obs_shape, tasks.num_actions, sum(tasks.task_sizes.values()), sum(self.estimate_sizes)
        )
        torch.manual_seed(seed)  # the policy's initial weights follow the seed: one seed, one run
        self.policy: TrialPolicy = policy(spec)
        # Action draws and minibatch shuffles get their own generator, so nothing else that draws
        # from torch's global one (a DataLoader starting an epoch) shifts a run, resumed or not.
        self.generator = torch.Generator().manual_seed(seed)
        self.env_steps, self.iterations = 0, 0
        self.trials: BatchedTasks = self.training_tasks().batch(num_trials, seed)
        self.train_seconds = 0.0  # wall time spent in training steps, for the benchmark's report
        self._resume: dict[str, Any] | None = None

    @staticmethod
    def _check(
        tasks: TaskDistribution,
        num_trials: int,
        num_minibatches: int,
        expected_rewards: bool,
        novelty_bonus: float,
        episodes: int | None,
    ) -> TaskDistribution | None:
        """Refuse settings that cannot run; the curriculum's shorter family, if any."""
        if expected_rewards and not tasks.has_expected_rewards:
            raise LeydenConfigError(
                f"expected_rewards=True, but {type(tasks).__name__} does not know its steps' expected rewards",
                "leave expected_rewards off for this family",
            )
        if num_trials % num_minibatches:
            raise LeydenConfigError(
                f"num_trials={num_trials} is not divisible by num_minibatches={num_minibatches}",
                "choose num_trials a multiple of num_minibatches",
            )
        if novelty_bonus < 0 or (novelty_bonus and not isinstance(tasks, TabularTasks)):
            raise LeydenConfigError(
                f"novelty_bonus={novelty_bonus} on {type(tasks).__name__}: the bonus counts the tries of each "
                "(state, action) pair of a tabular family, and cannot be negative",
                "use novelty_bonus >= 0 with BernoulliBandits or RandomTabularMDPs, else 0",
            )
        if episodes is None:
            return None
        if not 1 <= episodes < tasks.num_episodes:
            raise LeydenConfigError(
                f"curriculum_episodes={episodes} is no shorter trial than the family's {tasks.num_episodes} episodes",
                f"choose 1 <= curriculum_episodes < {tasks.num_episodes}, or leave it unset",
            )
        return tasks.with_episodes(episodes)

    @property
    def ppo_hparams(self) -> AttributeDict:
        return AttributeDict({**FIXED_PPO_SETTINGS, **self.hparams})

    def training_tasks(self) -> TaskDistribution:
        """The family trials are played on now: the curriculum's shorter one for the first half of the budget."""
        in_curriculum = self.env_steps < 0.5 * self.hparams.total_env_steps
        return self.curriculum_tasks if self.curriculum_tasks is not None and in_curriculum else self.tasks

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.learning_rate, eps=1e-5)

    def train_dataloader(self) -> DataLoader:
        shortest = (self.curriculum_tasks or self.tasks).trial_length  # enough iterations for the budget
        return steps_dataloader(
            math.ceil(self.hparams.total_env_steps / (self.hparams.num_trials * shortest))
        )

    @property
    def env_step_budget(self) -> int:
        return int(self.hparams.total_env_steps)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.check_fit_budget()

    def on_train_start(self) -> None:
        """Give every DDP rank its own tasks and action draws; without this all ranks play the same trials.

        Rank r of a fresh run draws from ``seed + 1000·r``. A resumed run continues rank 0's saved
        streams exactly; the other ranks start new ones that depend on rank and iteration.
        """
        resume, self._resume = self._resume, None
        self.trials = self.new_trials()
        self.generator = torch.Generator(device=self.device).manual_seed(self.stream_seed())
        if resume is not None and rank() == 0:
            self.trials.generator.set_state(resume["env_rng"])
            self.generator.set_state(resume["action_rng"])

    def stream_seed(self) -> int:
        """This rank's seed for streams started at the current iteration (a fresh run: ``rank_seed(seed)``)."""
        return rank_seed(self.hparams.seed) + 7919 * self.iterations

    def new_trials(self) -> BatchedTasks:
        return self.training_tasks().batch(self.hparams.num_trials, self.stream_seed(), self.device)

    # ---------------------------------------------------------------------------- 1. play whole trials
    @torch.no_grad()
    def play_trials(self) -> dict[str, torch.Tensor]:
        """One whole trial of ``num_trials`` fresh tasks; the memory starts at zero and persists across episodes.

        Returns (T, N, ...) tensors, and the trials' task parameters as ``task.<name>`` (1, N, width):
        training targets and the critic's input, never the policy's.
        """
        trials, n, device = self.trials, self.trials.num_envs, self.device
        obs = trials.reset()
        task = {f"task.{name}": value[None] for name, value in trials.task_parameters().items()}
        task_input = torch.cat(list(task.values()), -1) if task else None
        hidden = self.policy.initial_state(n, device)
        previous = torch.zeros(1, n, self.tasks.num_actions + 2, device=device)
        steps: dict[str, list[torch.Tensor]] = {}
        for _ in range(trials.trial_length):
            out = self.policy(obs[None], previous, hidden, task_input)
            log_p = F.log_softmax(out.logits[0], -1)
            action = torch.multinomial(log_p.exp(), 1, generator=self.generator).squeeze(1)
            next_obs, reward, done = trials.step(action)
            step = {"obs": obs, "actions": action, "log_probs": log_p.gather(1, action[:, None]).squeeze(1),
                    "values": out.values[0], "rewards": reward, "dones": done}  # fmt: skip
            if self.hparams.expected_rewards:
                step["expected_rewards"] = trials.expected_reward
            for key, value in step.items():
                steps.setdefault(key, []).append(value)
            previous = feedback(action, reward, done, self.tasks.num_actions)[None]
            hidden, obs = out.hidden, next_obs
        self.env_steps += trials.trial_length * n
        data = {key: torch.stack(values) for key, values in steps.items()}
        return {**data, **task}

    # ---------------------------------------------------------------------------- 2. GAE over the trial
    def ppo_rewards(self, data: dict[str, torch.Tensor], progress: float) -> torch.Tensor:
        """What PPO maximises: the drawn (or expected) rewards, plus the decaying novelty bonus, scaled."""
        hp = self.hparams
        rewards = data.pop("expected_rewards") if hp.expected_rewards else data["rewards"]
        self.bonus = linear_schedule(hp.novelty_bonus, progress, anneal=True)
        if self.bonus:
            states = data["obs"].argmax(-1)
            tries = novelty(states, data["actions"], self.tasks.num_states, self.tasks.num_actions)
            rewards = rewards + self.bonus * self.tasks.reward_mean_std * tries
        return rewards * hp.reward_scale

    def trial_advantages(
        self, rewards: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE(λ) over whole trials: the trial's last step is the only terminal (episode ends are not)."""
        terminated = torch.zeros_like(rewards, dtype=torch.bool)
        terminated[-1] = True
        next_values = torch.cat([values[1:], torch.zeros_like(values[:1])])
        return gae(rewards, values, next_values, terminated, torch.zeros_like(terminated),
                   self.hparams.gamma, self.hparams.gae_lambda)  # fmt: skip

    # ---------------------------------------------------------------------------- 3. PPO's update
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        start, hp = time.perf_counter(), self.hparams
        progress = self.env_steps / hp.total_env_steps
        if self.trials.trial_length != self.training_tasks().trial_length:  # the curriculum is over
            self.trials = self.new_trials()
        data = self.play_trials()
        rewards = self.ppo_rewards(data, progress)
        data["advantages"], data["returns"] = self.trial_advantages(rewards, data["values"])
        metrics = self.ppo_update(data, progress)
        self.iterations += 1
        self.train_seconds += time.perf_counter() - start
        metrics["train/trial_return"] = float(data["rewards"].sum(0).mean())
        metrics["train/env_steps"] = float(self.env_steps)
        metrics["train/novelty_bonus"] = self.bonus
        self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=True)
        if self.env_steps >= hp.total_env_steps:
            self.trainer.should_stop = True

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Split the trials (axis 1) into ``num_minibatches`` groups of whole trials."""
        perm = torch.randperm(self.hparams.num_trials, device=self.device, generator=self.generator)
        for idx in perm.chunk(self.hparams.num_minibatches):
            yield {k: v[:, idx] for k, v in data.items()}

    def evaluate_actions(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Replay the policy over whole trials from the zero memory: ``(log_prob, entropy, value)``, each
        (T, n), plus the auxiliary losses' sum if there are any."""
        obs, actions = mb["obs"], mb["actions"]
        previous = previous_step(actions, mb["rewards"], mb["dones"], self.tasks.num_actions)
        task = {key.removeprefix("task."): value for key, value in mb.items() if key.startswith("task.")}
        task_input = torch.cat(list(task.values()), -1) if task else None
        out = self.policy(obs, previous, self.policy.initial_state(obs.shape[1], obs.device), task_input)
        log_p = F.log_softmax(out.logits, -1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        log_prob = log_p.gather(-1, actions[..., None]).squeeze(-1)
        if not self.auxiliary_losses:
            return log_prob, entropy, out.values
        estimates = out.estimate.split(self.estimate_sizes, -1)
        auxiliary = sum(loss(estimate, task) for loss, estimate in zip(self.auxiliary_losses, estimates))
        return log_prob, entropy, out.values, auxiliary

    # ---------------------------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["leyden_rl2"] = {
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "train_seconds": self.train_seconds,
            "env_rng": self.trials.generator.get_state(),
            "action_rng": self.generator.get_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["leyden_rl2"]
        self.env_steps, self.iterations = state["env_steps"], state["iterations"]
        self.train_seconds = state["train_seconds"]
        self.trials.generator.set_state(state["env_rng"])
        self._resume = state
