"""Recurrent PPO: PPO with an LSTM (or GRU) policy for partially observed tasks, as a LightningModule.

Like Stable-Baselines3-contrib's ``RecurrentPPO`` and CleanRL's ``ppo_atari_lstm``. Each
``training_step`` is one PPO iteration:

1. collect ``num_steps`` steps of each of ``num_envs`` envs (the rollout of :mod:`leyden_rl.on_policy`);
   every env's memory is carried from step to step and from one rollout to the next, and zeroed where
   an episode starts. The rollout keeps the memory at its first step and where each episode starts;
   a time-limit truncation bootstraps from V(final observation) read with the memory of that episode;
2. GAE(λ) advantages, as PPO;
3. PPO's update (:class:`~leyden_rl.ppo.PPOUpdate`: clipped loss, schedules, gradient clipping, DDP
   averaging) over minibatches of *whole env sequences* — ``batch_size / num_steps`` envs each, never
   shuffled steps — whose log-probabilities and values are recomputed by replaying the memory from the
   rollout's first step, zeroed again at every episode start inside the sequence (truncated BPTT over
   the rollout). Before the first gradient step the replay gives exactly the rollout's log-probabilities.

The memory makes the policy a function of the episode so far, so acting needs it too:
:meth:`RecurrentPPO.act_with_memory` takes and returns it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from leyden_core.errors import LeydenConfigError
from leyden_rl.networks import log_prob_entropy, sample_actions
from leyden_rl.ppo import PPO
from leyden_rl.recurrent_actor_critic import RecurrentActorCritic


class RecurrentPPO(PPO):
    """PPO with a recurrent actor-critic (:class:`~leyden_rl.recurrent_actor_critic.RecurrentActorCritic`).

    Defaults are rl-zoo's for ``CartPoleNoVel-v1`` (CartPole with its velocities masked), except that rl-zoo
    also normalizes observations and rewards and keeps PyTorch's initialisation; the example config
    ``examples/rl/recurrent_ppo_cartpole_novel.yaml`` sets all of them.

    Args:
        env_id, num_envs, num_steps, total_env_steps, update_epochs, learning_rate, anneal_lr, clip_range,
            anneal_clip, clip_range_vf, gamma, gae_lambda, ent_coef, anneal_ent, vf_coef, max_grad_norm,
            normalize_advantage, normalize_observations, normalize_rewards, seed, vectorization, env_kwargs:
            as for :class:`~leyden_rl.ppo.PPO`.
        batch_size: env steps per minibatch, a multiple of ``num_steps``: each minibatch holds the whole
            rollouts of ``batch_size / num_steps`` envs.
        cell: "lstm" or "gru"; memory_size: its width; shared_memory: one memory for actor and critic
            (else one each).
        hidden_sizes, activation: the MLP layers of the actor and critic heads after the memory.
        orthogonal_init: orthogonal initialisation (CleanRL's), or PyTorch's default (rl-zoo's ``ortho_init=False``).
    """

    def __init__(
        self,
        env_id: str = "CartPoleNoVel-v1",
        num_envs: int = 8,
        num_steps: int = 32,
        total_env_steps: int = 100_000,
        batch_size: int = 256,
        update_epochs: int = 20,
        learning_rate: float = 1e-3,
        anneal_lr: bool = True,
        clip_range: float = 0.2,
        anneal_clip: bool = True,
        clip_range_vf: float | None = None,
        gamma: float = 0.98,
        gae_lambda: float = 0.8,
        ent_coef: float = 0.0,
        anneal_ent: bool = False,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        cell: str = "lstm",
        memory_size: int = 64,
        shared_memory: bool = False,
        hidden_sizes: tuple[int, ...] = (64,),
        activation: str = "relu",
        orthogonal_init: bool = True,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        self.memory_options = {
            "cell": cell, "memory_size": memory_size, "shared_memory": shared_memory,
            "orthogonal_init": orthogonal_init,
        }  # fmt: skip
        super().__init__(
            env_id=env_id, num_envs=num_envs, num_steps=num_steps, total_env_steps=total_env_steps,
            batch_size=batch_size, update_epochs=update_epochs, learning_rate=learning_rate, anneal_lr=anneal_lr,
            clip_range=clip_range, anneal_clip=anneal_clip, clip_range_vf=clip_range_vf, gamma=gamma,
            gae_lambda=gae_lambda, ent_coef=ent_coef, anneal_ent=anneal_ent, vf_coef=vf_coef,
            max_grad_norm=max_grad_norm, normalize_advantage=normalize_advantage, hidden_sizes=hidden_sizes,
            activation=activation, normalize_observations=normalize_observations,
            normalize_rewards=normalize_rewards, seed=seed, vectorization=vectorization, env_kwargs=env_kwargs,
        )  # fmt: skip
        if batch_size % num_steps:
            raise LeydenConfigError(
                f"batch_size {batch_size} is not a multiple of num_steps {num_steps}: RecurrentPPO's "
                "minibatches hold whole env sequences of num_steps steps",
                f"set batch_size to a multiple of num_steps, e.g. {num_steps * max(1, batch_size // num_steps)}",
            )
        width = self.policy.memory_width
        # Every env's memory before its current observation, and whether that observation starts an episode;
        # in a rollout, the memory before each step t ([T]: after the last) and where episodes start.
        self.memory = torch.zeros(num_envs, width)
        self.starts_episode = torch.ones(num_envs, dtype=torch.bool)
        self.memory_trace = torch.zeros(num_steps + 1, num_envs, width)
        self.episode_starts = torch.zeros(num_steps, num_envs, dtype=torch.bool)

    def make_policy(self, hidden_sizes: tuple[int, ...], activation: str) -> nn.Module:
        return RecurrentActorCritic(
            self.observation_space, self.action_space, hidden_sizes=hidden_sizes, activation=activation,
            **self.memory_options,
        )  # fmt: skip

    def setup(self, stage: str) -> None:
        super().setup(stage)
        for name in ("memory", "starts_episode", "memory_trace", "episode_starts"):
            setattr(self, name, getattr(self, name).to(self.device))

    def on_train_start(self) -> None:
        """The envs are reset (fresh, or re-seeded on resume), so every memory starts from zero."""
        super().on_train_start()
        self.memory.zero_()
        self.starts_episode.fill_(True)

    # ---------------------------------------------------------------------------- 1. rollout with memory
    def rollout_act(self, obs: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Act at step ``t``: zero the memory of envs whose episode starts here, then step it."""
        ro = self.rollout
        if t == 0:
            self.memory_trace[0] = self.memory
            starts = self.starts_episode
        else:  # SAME_STEP autoreset: the obs after an episode's last step is the next episode's first
            starts = ro.terminated[t - 1] | ro.truncated[t - 1]
        self.episode_starts[t] = starts
        out, value, memory = self.policy(obs[None], self.memory_trace[t], starts[None])
        self.memory_trace[t + 1] = memory
        return *sample_actions(out[0], self.policy.action_log_std), value[0]

    def bootstrap_values(self, obs: torch.Tensor, steps: list[tuple[int, int]] | None = None) -> torch.Tensor:
        """V after the rollout (each env's memory after its last step), or V(final obs) of episodes a
        time limit cut at step t of env i (env i's memory after step t: that episode's own)."""
        ro = self.rollout
        if steps is None:
            starts = ro.terminated[-1] | ro.truncated[-1]
            return self.policy(obs[None], self.memory_trace[-1], starts[None])[1][0]
        t, i = (torch.tensor(index, device=self.device) for index in zip(*steps))
        memory = self.memory_trace[t + 1, i]
        return self.policy(obs[None], memory, torch.zeros_like(t, dtype=torch.bool)[None])[1][0]

    @torch.no_grad()
    def collect_rollout(self) -> None:
        """PPO's rollout; then carry each env's memory (and whether its next obs starts an episode) on."""
        super().collect_rollout()
        self.memory = self.memory_trace[-1].clone()
        self.starts_episode = self.rollout.terminated[-1] | self.rollout.truncated[-1]

    def rollout_with_advantages(self, gamma: float, gae_lambda: float) -> dict[str, torch.Tensor]:
        """PPO's (T, N, ...) tensors plus ``episode_starts`` (T, N) and the rollout's first ``memory`` (1, N, width)."""
        data = super().rollout_with_advantages(gamma, gae_lambda)
        return {**data, "episode_starts": self.episode_starts, "memory": self.memory_trace[:1]}

    # ---------------------------------------------------------------------------- 3. sequence minibatches
    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffle the envs (axis 1) into groups of ``batch_size / num_steps``; each keeps its whole sequence."""
        envs_per_batch = self.hparams.batch_size // self.hparams.num_steps
        for idx in torch.randperm(self.num_envs, device=self.device).split(envs_per_batch):
            yield {k: v[:, idx] for k, v in data.items()}

    def evaluate_actions(
        self, mb: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Replay the memory over the minibatch's sequences from the rollout's first step: ``(log_prob,
        entropy, value)``, each (T, n)."""
        out, value, _ = self.policy(mb["obs"], mb["memory"][0], mb["episode_starts"])
        log_prob, entropy = log_prob_entropy(out, mb["actions"], self.policy.action_log_std)
        return log_prob, entropy, value

    # ---------------------------------------------------------------------------- acting
    @torch.no_grad()
    def act_with_memory(
        self,
        obs: torch.Tensor,
        memory: torch.Tensor,
        episode_starts: torch.Tensor,
        deterministic: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(actions, memory)`` for a batch of observations, given each env's memory before this step
        (start from ``policy.initial_memory(batch)``) and whether its observation starts an episode."""
        out, _, memory = self.policy(self.policy_observations(obs)[None], memory, episode_starts[None])
        action = sample_actions(out[0], self.policy.action_log_std, deterministic)[0]
        return self.clip_to_bounds(action), memory

    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        raise LeydenConfigError(
            "RecurrentPPO acts from its memory of the episode so far, and act() sees only the observation",
            "call act_with_memory(obs, memory, episode_starts), carrying the memory it returns",
        )
