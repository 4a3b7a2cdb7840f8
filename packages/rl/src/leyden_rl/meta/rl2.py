"""RL² (Duan et al., 2016): learn a fast RL algorithm as the hidden state of a GRU, trained by slow PPO.

The "fast" learner is a recurrent policy whose input at every step is ``[state, previous action,
previous reward, previous done]`` (:func:`leyden_rl.meta.tasks.encode_obs`). Its hidden state is
carried across the episodes of a trial — so it can remember what it learnt about the task — and
reset to zero between trials. The "slow" learner is PPO with GAE over whole trials: the return
being maximised is the total reward of the trial, so exploring early to exploit later pays off.

Each ``training_step`` is one PPO iteration (manual optimisation):

1. draw ``num_trials`` tasks and play one whole trial of each in the batched torch env
   (:class:`~leyden_rl.meta.tasks.BatchedTrialEnv`), the GRU state starting at zero;
2. GAE(λ) over the trial (:func:`leyden_rl.advantages.gae`; the trial's end is the terminal);
3. the PPO update shared with :class:`leyden_rl.ppo.PPO` (the mixin :class:`~leyden_rl.ppo.PPOUpdate`):
   minibatches split along the trial axis so each sequence stays whole, and actions re-evaluated
   by replaying the GRU from the zero state the trial started in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from leyden_core.distributed import rank, rank_seed
from leyden_core.errors import LeydenConfigError
from leyden_rl.advantages import gae
from leyden_rl.base import linear_schedule, steps_dataloader
from leyden_rl.meta.arm_memory import ArmMemoryPolicy
from leyden_rl.meta.policy_base import TaskAwareValue, TrialPolicy
from leyden_rl.meta.tasks import (
    BatchedTrialEnv,
    BernoulliBandits,
    RandomTabularMDPs,
    TaskDistribution,
    obs_dim,
    split_obs,
    stream_generator,
    trial_length,
)
from leyden_rl.ppo import PPOUpdate


def make_task_distribution(
    task: str, num_arms: int = 5, num_pulls: int = 10, num_episodes: int = 10
) -> TaskDistribution:
    """``"bandit"`` → :class:`BernoulliBandits` (k = num_arms, n = num_pulls); ``"mdp"`` → :class:`RandomTabularMDPs`."""
    if task == "bandit":
        return BernoulliBandits(num_arms=num_arms, num_pulls=num_pulls)
    if task == "mdp":
        return RandomTabularMDPs(num_episodes=num_episodes)
    raise LeydenConfigError(f"unknown RL² task family {task!r}", "use task='bandit' or task='mdp'")


def pair_one_hot(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """``one_hot(s) ⊗ one_hot(a)`` flattened: one slot per (state, action) pair, (..., S) × (..., A) → (..., S·A)."""
    return (state[..., :, None] * action[..., None, :]).flatten(-2)


def novelty(obs: torch.Tensor, actions: torch.Tensor, num_actions: int) -> torch.Tensor:
    """``1 / sqrt(1 + n_t)``, n_t the tries of (s_t, a_t) earlier in the trial: obs (T, N, D), actions (T, N) → (T, N).

    The exploration bonus of MBIE-EB (Strehl & Littman, 2008), computed from the trial's own history.
    """
    state = split_obs(obs, num_actions)[0]
    pair = pair_one_hot(state, F.one_hot(actions, num_actions).to(state.dtype))  # (T, N, S·A)
    earlier = pair.cumsum(0) - pair
    return (earlier * pair).sum(-1).add(1).rsqrt()


class BilinearReadout(nn.Module):
    """``out_j = Σ_{i,d} h_i W_ijd o_d + b_j`` as one matmul: ``nn.Bilinear`` is ~20× slower on CPU.

    ``rank=R`` factorises the weight as ``W_ijd = Σ_r L_ir R_dr V_rj`` (``out = ((h L) ⊙ (o R)) V + b``):
    the full form costs hidden·obs·out multiply-adds per step — with 50 arms (obs 53, out 50) three
    times a 128-unit GRU step — the factorised one (hidden + obs + out)·R.
    """

    def __init__(
        self, hidden_size: int, obs_size: int, out_size: int, init_scale: float = 1.0, rank: int | None = None
    ) -> None:
        super().__init__()
        self.obs_size, self.rank = obs_size, rank
        self.bias = nn.Parameter(torch.zeros(out_size))
        if rank is None:
            bound = init_scale / hidden_size**0.5
            self.weight = nn.Parameter(torch.empty(hidden_size, out_size * obs_size).uniform_(-bound, bound))
            return
        self.hidden_factor = nn.Parameter(torch.empty(hidden_size, rank).uniform_(-1, 1) / hidden_size**0.5)
        self.obs_factor = nn.Parameter(torch.empty(obs_size, rank).uniform_(-1, 1))
        self.out_factor = nn.Parameter(torch.empty(rank, out_size).uniform_(-1, 1) * init_scale / rank**0.5)

    def forward(self, h: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        if self.rank is not None:
            return ((h @ self.hidden_factor) * (obs @ self.obs_factor)) @ self.out_factor + self.bias
        z = (h @ self.weight).unflatten(-1, (-1, self.obs_size))  # (..., out, obs)
        return (z * obs.unsqueeze(-2)).sum(-1) + self.bias


class GRUPolicy(TrialPolicy):
    """GRU trunk with a softmax policy head and a value head.

    ``separate_value=True`` gives the value head its own GRU (the paper's baseline is a separate
    RNN): with one shared trunk, the value loss of long trials (MDP returns ~100–450) competes
    with the policy gradient for the same memory. The hidden state then holds both GRUs' states,
    concatenated along the feature axis.

    ``embed_size`` puts a ReLU layer φ(s, a, r, d) before the GRU(s), as the paper's policy embeds
    its input: the GRU must credit the previous reward to the previous action, a product of two
    inputs that one ReLU layer forms directly (relu(a_i + r − 1) = a_i·r for binary a_i, r ∈ [0, 1])
    but a GRU's gates only learn slowly.

    ``previous_obs=True`` feeds each step the previous observation beside the current one. The
    observation at step t is ``[s_t, a_{t-1}, r_{t-1}, d_{t-1}]``: the reward it carries was earned
    in state s_{t-1}, which only the previous observation holds. On a tabular MDP the agent must
    file every reward under its (state, action) pair — a product of three inputs spread over two
    steps, which otherwise the GRU must learn to carry and combine; with both observations the
    embedding forms it in one layer. The policy still sees nothing but the paper's observations.
    The previous observation travels in the hidden state (its last ``obs_size`` features).

    ``pull_features=True`` adds that product to the embedding's input outright:
    ``one_hot(s_{t-1}) ⊗ one_hot(a_{t-1}) ⊗ [1, r_{t-1}]`` — which (state, action) was tried last
    and what it paid, one slot per pair (2·S·A features; on a bandit, S = 1: one slot per arm). One
    ReLU layer can only approximate a product of three inputs, one of them an unbounded reward,
    and needs a unit per slot to do it; with the slots given, the GRU's job is to accumulate them.
    It needs the previous observation's state, so that is carried in the hidden state as above
    (it enters the embedding itself only with ``previous_obs``).

    ``bilinear_head=True`` makes both heads bilinear in (GRU output, current observation):
    ``out_j = Σ h_i W_ijd o_d + b_j``. A linear head reads the memory the same way in every state,
    so to act on what it learnt about the state it is in, the GRU must first move that state's
    entries to where the head looks. With a one-hot state in the observation the bilinear head is a
    separate linear readout per state (and, since the one-hot sums to 1, it contains the linear head).
    On a bandit it lets the policy act on which arm it pulled last and what that paid ("stay" or
    "move on") without first copying the arm's identity into the memory. ``bilinear_rank=R``
    factorises the policy head's weight (see :class:`BilinearReadout`): with many actions the full
    head costs more than the GRU (the value head, one output, stays full).

    ``task_size > 0`` adds a linear head that estimates ``task_size`` numbers about the task from
    the memory (:meth:`outputs`): RL2 trains them as reward means and next-state logits (its
    ``task_inference_coef`` and ``transition_inference_coef``). The policy acts on the memory, which
    the head's loss shapes.

    ``estimate_unit`` (with a task head whose first S·A outputs are reward means) also lets the policy
    read that estimate: the logits gain ``β · r̂(s_t, ·) / estimate_unit``, the estimated reward means
    of the current state's actions in units of their prior spread, with β learnt and starting at 0
    (so a fresh policy is the one without it). A bilinear head could read them out of the memory
    itself, but must find them there first; given outright, "prefer what looks best" is one weight
    for PPO to learn and the readout is free to learn what to add to it (exploration). The estimate
    enters detached: the policy gradient shapes neither the task head nor, through it, the memory —
    the estimate stays the supervised belief, as the belief input of Humplik et al. (2019).

    ``reads_uncertainty=True`` (with ``estimate_unit``, and a task head whose last S·A outputs estimate
    each pair's squared error of the reward-mean estimate, i.e. its posterior variance) adds
    ``β_u · sqrt(v̂(s_t, ·)) / estimate_unit``, centred, β_u learnt from 0, detached like the mean: an
    upper-confidence term (on these MDPs the posterior variance is 1/(1 + tries), the shape of BEB's
    bonus) that PPO can weigh against the estimate — the one exploration signal a greedy reading lacks.

    ``task_feature_size > 0`` replaces the value head by :class:`TaskAwareValue`, which also reads the
    trial's task (its parameters, ``task_feature_size`` numbers, passed to :meth:`outputs` in training
    only): the critic of Baisero & Amato (2022), a value of (history, latent task) that stays unbiased
    where a value of the latent task alone would not. The policy still reads the memory only.
    """

    def __init__(
        self,
        obs_size: int,
        num_actions: int,
        hidden_size: int,
        separate_value: bool = False,
        embed_size: int | None = None,
        previous_obs: bool = False,
        bilinear_head: bool = False,
        pull_features: bool = False,
        task_size: int = 0,
        bilinear_rank: int | None = None,
        estimate_unit: float | None = None,
        reads_uncertainty: bool = False,
        task_feature_size: int = 0,
    ) -> None:
        super().__init__()
        self.previous_obs, self.pull_features, self.num_actions = previous_obs, pull_features, num_actions
        self.carried_obs_size = obs_size if previous_obs or pull_features else 0
        self.num_pairs = (obs_size - num_actions - 2) * num_actions  # S·A
        pulls_size = 2 * self.num_pairs if pull_features else 0
        input_size = obs_size * (2 if previous_obs else 1) + pulls_size
        self.embed = (
            nn.Sequential(nn.Linear(input_size, embed_size), nn.ReLU()) if embed_size else nn.Identity()
        )
        gru_input = embed_size or input_size
        self.gru = nn.GRU(gru_input, hidden_size)
        self.value_gru = nn.GRU(gru_input, hidden_size) if separate_value else None
        self.bilinear_head = bilinear_head
        if bilinear_head:  # the policy's readout starts small: a near-uniform first policy
            self.policy_head: nn.Module = BilinearReadout(
                hidden_size, obs_size, num_actions, 0.01, bilinear_rank
            )
            self.value_head: nn.Module = BilinearReadout(hidden_size, obs_size, 1)
        else:
            self.policy_head = nn.Linear(hidden_size, num_actions)
            self.value_head = nn.Linear(hidden_size, 1)
            nn.init.orthogonal_(self.policy_head.weight, 0.01)  # start near-uniform
            nn.init.zeros_(self.policy_head.bias)
        self.task_head = nn.Linear(hidden_size, task_size) if task_size else None
        self.task_value = None
        if task_feature_size:  # the plain head is still built, so one seed draws the same policy either way
            self.task_value = TaskAwareValue(hidden_size, obs_size, task_feature_size, hidden_size)
            self.value_head.requires_grad_(False)  # and frozen: DDP would wait for its gradients
        self.hidden_size = hidden_size
        self.estimate_unit = estimate_unit
        self.estimate_weight = nn.Parameter(torch.zeros(())) if estimate_unit is not None else None
        self.uncertainty_weight = nn.Parameter(torch.zeros(())) if reads_uncertainty else None

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The zero memory every trial starts from: (1, batch, hidden), (1, batch, 2·hidden) with a
        value GRU, plus the previous observation's width with ``previous_obs`` or ``pull_features`` (none yet: zeros)."""
        width = self.hidden_size * (1 if self.value_gru is None else 2) + self.carried_obs_size
        return torch.zeros(1, batch, width, device=device)

    def outputs(
        self,
        obs: torch.Tensor,
        hidden: torch.Tensor,
        task_steps: slice | None = slice(None),
        task: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """See :class:`TrialPolicy`; the estimate has the task head's ``task_size`` outputs (T', N, task_size)."""
        out, value_out, hidden = self._memory(obs, hidden)
        logits = self._read(self.policy_head, out, obs)
        if self.estimate_weight is not None:
            memory, pairs = out.detach(), self.num_pairs
            means = self._current_state_estimate(memory, obs, slice(0, pairs))
            logits = logits + self.estimate_weight * _centred(means) / self.estimate_unit
            if self.uncertainty_weight is not None:
                variances = self._current_state_estimate(memory, obs, slice(-pairs, None))
                spread = variances.clamp(min=0).sqrt()
                logits = logits + self.uncertainty_weight * _centred(spread) / self.estimate_unit
        if self.task_value is None:
            values: torch.Tensor | None = self._read(self.value_head, value_out, obs).squeeze(-1)
        else:
            values = None if task is None else self.task_value(value_out, obs, task).squeeze(-1)
        estimate = (
            self.task_head(out[task_steps]) if task_steps is not None and self.task_head is not None else None
        )
        return logits, values, estimate, hidden

    def _memory(
        self, obs: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The GRU(s) over obs: outputs for the policy head and the value head, and the next hidden."""
        carried, inputs = [], [obs]
        if self.carried_obs_size:
            hidden, previous = hidden[..., : -self.carried_obs_size], hidden[..., -self.carried_obs_size :]
            previous, carried = torch.cat([previous, obs[:-1]]), [obs[-1:]]  # step t gets step t-1's
            if self.previous_obs:
                inputs.insert(0, previous)
            if self.pull_features:
                inputs.append(self._pulls(previous, obs))
        x = self.embed(torch.cat(inputs, dim=-1))
        if self.value_gru is None:
            out, hidden = self.gru(x, hidden.contiguous())
            value_out = out
        else:
            policy_hidden, value_hidden = hidden.chunk(2, dim=-1)
            out, policy_hidden = self.gru(x, policy_hidden.contiguous())
            value_out, value_hidden = self.value_gru(x, value_hidden.contiguous())
            hidden = torch.cat([policy_hidden, value_hidden], dim=-1)
        return out, value_out, torch.cat([hidden, *carried], dim=-1)

    def _pulls(self, previous: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """``one_hot(s_{t-1}) ⊗ one_hot(a_{t-1}) ⊗ [1, r_{t-1}]``: s_{t-1} from the previous observation."""
        previous_state = split_obs(previous, self.num_actions)[0]
        _, previous_action, reward, _ = split_obs(obs, self.num_actions)
        pulled = pair_one_hot(previous_state, previous_action)  # (T, N, S·A)
        return torch.cat([pulled, pulled * reward], dim=-1)

    def _current_state_estimate(self, out: torch.Tensor, obs: torch.Tensor, rows: slice) -> torch.Tensor:
        """The task head's per-pair outputs ``rows`` (S·A of them) for the current state's actions, detached: (T, N, A)."""
        weight, bias = self.task_head.weight[rows].detach(), self.task_head.bias[rows].detach()
        per_pair = F.linear(out, weight, bias).unflatten(-1, (-1, self.num_actions))  # (T, N, S, A)
        state = split_obs(obs, self.num_actions)[0]
        return torch.einsum("tns,tnsa->tna", state, per_pair)

    def _read(self, head: nn.Module, out: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return head(out, obs) if self.bilinear_head else head(out)


def _centred(x: torch.Tensor) -> torch.Tensor:
    """Minus the mean over the last (action) axis: a softmax sees only differences."""
    return x - x.mean(-1, keepdim=True)


# RL2's options that shape the generic GRU policy's input and heads (refused with ``arm_memories``).
GENERIC_GRU_OPTIONS = (
    "separate_value", "embed_size", "previous_obs", "bilinear_head", "bilinear_rank", "pull_features",
    "policy_reads_estimate", "policy_reads_uncertainty",
)  # fmt: skip


class RL2(PPOUpdate, pl.LightningModule):
    """RL² on the paper's Bernoulli bandits or random tabular MDPs.

    Args:
        task: "bandit" or "mdp". num_arms, num_pulls: bandit k and n. num_episodes: MDP episodes per trial.
        num_trials: trials (sampled tasks) per PPO iteration; each is a whole trial of env steps.
        total_env_steps: training budget in env steps (per DDP rank, as PPO's); training stops there.
        hidden_size: GRU width (the paper: 256).
        learning_rate, anneal_lr, clip_range, anneal_clip, clip_range_vf, update_epochs, num_minibatches,
        gamma, gae_lambda, ent_coef, anneal_ent, vf_coef, max_grad_norm, normalize_advantage: PPO's knobs
            (minibatches split the trials, so each holds ``num_trials / num_minibatches`` whole trials).
        reward_scale: multiplies rewards for the PPO targets only (MDP trial returns are ~100–450;
            scaling them keeps the value loss from swamping the policy gradient in the shared GRU).
        separate_value: give the value head its own GRU (see :class:`GRUPolicy`).
        embed_size: width of a ReLU input embedding before the GRU (None: the observation goes in as is).
        previous_obs: feed the previous observation beside the current one (see :class:`GRUPolicy`).
        bilinear_head: heads bilinear in (GRU output, current observation) (see :class:`GRUPolicy`).
        bilinear_rank: factorise the bilinear policy head's weight to this rank (None: full; see
            :class:`BilinearReadout`) — with 50 arms the full head triples the cost of a step.
        pull_features: give the embedding which (state, action) was tried last and its reward, one
            slot per pair (see :class:`GRUPolicy`).
        expected_rewards: train on E[r | s, a] of each step instead of the reward drawn (see
            :meth:`training_step`); the policy still observes the drawn reward, as in the paper.
        task_inference_coef: weight of an auxiliary loss (0: none): a linear head on the GRU's output
            estimates E[r | s, a] of every pair of the trial's task at every step, by squared error
            against the true means (the task inference of Humplik et al., 2019). Its minimiser is
            the posterior mean given the history so far, so the loss teaches the memory to keep
            exactly the statistics a Bayes-optimal policy acts on — the per-pair reward estimates
            that PPO's sparse signal alone builds slowly. Training only: the evaluated agent
            never sees a task; the estimate is not an input to anything.
        transition_inference_coef: the same for the task's transitions (MDPs only; 0: none): the head
            also estimates P(s' | s, a) of every pair, by cross-entropy against the true next-state
            distributions, whose minimiser is again the posterior mean — the transition counts a
            planner needs beside the reward estimates.
        inference_stride: compute those losses at every ``inference_stride``-th step of each trial only,
            the first one cycling with the iteration, so over iterations every step is covered: the
            same expected gradient at a fraction of the head's cost, which the transition estimate
            (S·A·S outputs per step) makes the largest part of an MDP update.
        curriculum_length, curriculum_fraction: play shorter trials — ``curriculum_length`` episodes
            (MDP) or pulls (bandit) — for the first ``curriculum_fraction`` of the env-step budget,
            then the task's own length. Learning to explore and exploit from scratch over a 250-step
            trial is slow; what an agent learns over 10 episodes carries to 25 (see
            benchmarks/rl2.md, session 9). ``dist`` (what the agent is evaluated on) is always
            the full-length task.
        policy_reads_estimate: add to the logits a learnt multiple (starting at 0) of the task head's
            reward-mean estimates for the current state's actions, detached (needs
            ``task_inference_coef``; see :class:`GRUPolicy`). The estimate is a function of the memory
            of the paper's observations, so the agent still sees nothing else.
        policy_reads_uncertainty: with ``policy_reads_estimate``, the task head also estimates each
            pair's squared error of its reward-mean estimate (weighted as ``task_inference_coef``;
            minimised by the posterior variance), and the logits gain a learnt multiple (from 0) of
            its square root — an upper-confidence term PPO can learn to weigh (see :class:`GRUPolicy`).
        novelty_bonus, novelty_bonus_fraction: add to the PPO targets (only) ``novelty_bonus`` times the
            prior spread of a reward mean times :func:`novelty` — ``1/sqrt(1 + tries of (s, a) so far in
            the trial)`` — decayed linearly to 0 over the first ``novelty_bonus_fraction`` of the budget
            (above 1: to ``1 − 1/novelty_bonus_fraction`` of its start at the end of training).
            PPO's credit for trying a new pair arrives only episodes later, through better choices the
            agent may or may not make yet, so a policy that has learnt to exploit rarely learns to
            explore. The bonus pays for trying new pairs outright while the agent learns to remember
            what it tried; once it has decayed, the objective is the trial's return again and PPO can
            keep as much of that exploration as pays (BEB, which plans with such a bonus, earns more on
            these MDPs than planning on the posterior mean; benchmarks/rl2.md, sessions 14–15).
        value_reads_task: the value (PPO's baseline and GAE's bootstrap) also reads the trial's task — every
            pair's reward mean and, on an MDP, next-state distribution (see :class:`TaskAwareValue`). A value
            that knows the task need not guess from the history how much the trial can still pay, which
            is most of a history-only value's error early in a trial; as the value of (history, task) under
            the policy it is an unbiased critic (Baisero & Amato, 2022). Training only, like the task
            inference targets: the evaluated agent acts on the paper's observations alone.
        arm_memories: bandits only — one GRU memory per arm, the weights shared across arms, and a clock
            (:class:`~leyden_rl.meta.arm_memory.ArmMemoryPolicy`); ``hidden_size`` is then each arm's memory
            width. What the agent learns about one arm holds for all, where the generic GRU must learn it
            per input and output slot: at k = 50 it scored 85.3 after 10.5 M env steps where the generic GRU
            scored 81–83.6 after 18 M (benchmarks/rl2.md, session 27). The options that shape the generic
            GRU's input and heads do not apply and are refused.
        seed: seeds the network, task sampling and action draws (DDP rank r: seed + 1000·r).
    """

    def __init__(
        self,
        task: str = "bandit",
        num_arms: int = 5,
        num_pulls: int = 10,
        num_episodes: int = 10,
        num_trials: int = 250,
        total_env_steps: int = 2_000_000,
        hidden_size: int = 128,
        learning_rate: float = 3e-3,
        anneal_lr: bool = True,
        clip_range: float = 0.2,
        anneal_clip: bool = False,
        clip_range_vf: float | None = None,
        update_epochs: int = 8,
        num_minibatches: int = 2,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        ent_coef: float = 0.0,
        anneal_ent: bool = False,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        reward_scale: float = 1.0,
        separate_value: bool = False,
        embed_size: int | None = None,
        expected_rewards: bool = False,
        previous_obs: bool = False,
        bilinear_head: bool = False,
        bilinear_rank: int | None = None,
        pull_features: bool = False,
        task_inference_coef: float = 0.0,
        transition_inference_coef: float = 0.0,
        inference_stride: int = 1,
        curriculum_length: int | None = None,
        curriculum_fraction: float = 0.5,
        policy_reads_estimate: bool = False,
        policy_reads_uncertainty: bool = False,
        novelty_bonus: float = 0.0,
        novelty_bonus_fraction: float = 0.5,
        value_reads_task: bool = False,
        arm_memories: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        if num_trials % num_minibatches:
            raise LeydenConfigError(
                f"num_trials={num_trials} is not divisible by num_minibatches={num_minibatches}",
                "choose num_trials a multiple of num_minibatches",
            )
        for name, coef in [
            ("task_inference_coef", task_inference_coef),
            ("transition_inference_coef", transition_inference_coef),
        ]:
            if coef < 0:
                raise LeydenConfigError(
                    f"{name}={coef} would reward a worse estimate of the task",
                    "use 0 (off) or a positive weight, e.g. 1 for MDPs, 5 for bandits",
                )
        if bilinear_rank is not None and (not bilinear_head or bilinear_rank < 1):
            raise LeydenConfigError(
                f"bilinear_rank={bilinear_rank} with bilinear_head={bilinear_head}: it factorises the bilinear policy head",
                "set bilinear_head=True and a rank of 1 or more, or leave bilinear_rank unset",
            )
        if policy_reads_estimate and not task_inference_coef:
            raise LeydenConfigError(
                "policy_reads_estimate=True without task inference: there is no estimate of the reward means to read",
                "set task_inference_coef > 0 (e.g. 1 for MDPs, 5 for bandits) or leave policy_reads_estimate off",
            )
        if policy_reads_uncertainty and not policy_reads_estimate:
            raise LeydenConfigError(
                "policy_reads_uncertainty=True without policy_reads_estimate: the spread is read beside the estimate",
                "set policy_reads_estimate=True (with task_inference_coef > 0) as well",
            )
        if novelty_bonus < 0 or novelty_bonus_fraction <= 0:
            raise LeydenConfigError(
                f"novelty_bonus={novelty_bonus}, novelty_bonus_fraction={novelty_bonus_fraction}: "
                "a bonus for trying new pairs cannot be negative, nor decay over no share of the budget",
                "use novelty_bonus >= 0 (0: off) and novelty_bonus_fraction > 0",
            )
        if inference_stride < 1:
            raise LeydenConfigError(
                f"inference_stride={inference_stride} selects no steps", "use 1 (every step) or more"
            )
        self.dist = make_task_distribution(
            task, num_arms, num_pulls, num_episodes
        )  # refuses unknown tasks first
        if transition_inference_coef and self.dist.num_states == 1:
            raise LeydenConfigError(
                f"transition_inference_coef={transition_inference_coef} on {task!r}: a bandit has one state, no transitions to infer",
                "set transition_inference_coef only with task='mdp'",
            )
        pairs = self.dist.num_states * self.dist.num_actions
        # The task head's outputs: one reward mean per pair, next-state logits per pair, then the
        # squared error of each reward mean (its posterior variance).
        self.task_sizes = (
            pairs if task_inference_coef else 0,
            pairs * self.dist.num_states if transition_inference_coef else 0,
            pairs if policy_reads_uncertainty else 0,
        )
        self.curriculum_dist = self._curriculum_dist(curriculum_length, curriculum_fraction)
        # The GRU's initial weights and the action draws follow ``seed``: one seed, one run.
        torch.manual_seed(seed)
        task_feature_size = self.task_feature_size() if value_reads_task else 0
        self.policy: TrialPolicy
        if arm_memories:
            self._check_arm_memories()
            self.policy = ArmMemoryPolicy(
                self.dist.num_actions,
                hidden_size,
                obs_dim(self.dist),
                sum(self.task_sizes),
                task_feature_size,
            )
        else:
            self.policy = GRUPolicy(
                obs_dim(self.dist), self.dist.num_actions, hidden_size, separate_value, embed_size,
                previous_obs, bilinear_head, pull_features, sum(self.task_sizes), bilinear_rank,
                self.dist.reward_mean_std if policy_reads_estimate else None, policy_reads_uncertainty,
                task_feature_size,
            )  # fmt: skip
        self.env_steps = 0
        self.env = BatchedTrialEnv(self.training_dist(), num_trials, seed=seed)
        # Action draws and minibatch shuffles get their own generator, so nothing else that draws
        # from torch's global one (a DataLoader starting an epoch) shifts a run, resumed or not.
        self.generator = torch.Generator().manual_seed(seed)
        self.iterations = 0
        self.train_seconds = 0.0  # wall time spent in training steps, for the benchmark's report
        self._resume: dict[str, Any] | None = None

    def _check_arm_memories(self) -> None:
        """Refuse what per-arm memories cannot do: MDPs (pairs, not arms) and the generic GRU's options."""
        hp = self.hparams
        if hp.task != "bandit":
            raise LeydenConfigError(
                f"arm_memories=True on task={hp.task!r}: the memories are per arm, and an MDP's actions are not exchangeable arms",
                "use arm_memories only with task='bandit'",
            )
        chosen = [name for name in GENERIC_GRU_OPTIONS if hp[name]]
        if chosen:
            raise LeydenConfigError(
                f"arm_memories=True with {', '.join(chosen)}: those shape the generic GRU policy, not the per-arm memories",
                f"leave {', '.join(chosen)} unset, or drop arm_memories",
            )

    def task_feature_size(self) -> int:
        """Width of the task as the value reads it: S·A reward means, plus S·A·S transition probabilities on an MDP."""
        pairs, states = self.dist.num_states * self.dist.num_actions, self.dist.num_states
        return pairs + (pairs * states if states > 1 else 0)

    def task_parameters(self, env: BatchedTrialEnv) -> dict[str, torch.Tensor]:
        """The tasks of the trials ``env`` plays: ``means`` E[r | s, a] of every pair (1, N, S·A) and, on an
        MDP, ``transitions`` P(s' | s, a) of every pair (1, N, S·A·S)."""
        task = {"means": env.dist.reward_mean(env.task).flatten(1)[None].to(self.device)}
        if self.dist.num_states > 1:
            task["transitions"] = env.dist.transitions(env.task).flatten(1)[None].to(self.device)
        return task

    def _curriculum_dist(self, length: int | None, fraction: float) -> TaskDistribution | None:
        if length is None:
            return None
        hp = self.hparams
        full_length = self.dist.num_episodes  # a bandit's pulls are its one-step episodes
        if not 1 <= length < full_length or not 0 < fraction <= 1:
            raise LeydenConfigError(
                f"curriculum_length={length}, curriculum_fraction={fraction} do not make a curriculum "
                f"for trials of {full_length} {'pulls' if hp.task == 'bandit' else 'episodes'}",
                f"choose 1 <= curriculum_length < {full_length} and 0 < curriculum_fraction <= 1",
            )
        return make_task_distribution(hp.task, hp.num_arms, length, length)

    def training_dist(self) -> TaskDistribution:
        """The tasks trials are played on now: the curriculum's short ones until its share of the budget is spent."""
        in_curriculum = self.env_steps < self.hparams.curriculum_fraction * self.hparams.total_env_steps
        return self.curriculum_dist if self.curriculum_dist is not None and in_curriculum else self.dist

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.learning_rate, eps=1e-5)

    def train_dataloader(self) -> DataLoader:
        shortest = trial_length(self.curriculum_dist or self.dist)  # enough iterations for the budget
        per_iteration = self.hparams.num_trials * shortest
        return steps_dataloader(math.ceil(self.hparams.total_env_steps / per_iteration))

    def on_train_start(self) -> None:
        """Give every DDP rank its own tasks and action draws; without this all ranks play the same trials.

        Rank r of a fresh run draws from ``seed + 1000·r`` (rank 0 of a single process: ``seed``
        itself). A resumed run continues rank 0's saved streams exactly; the other ranks, whose
        streams the checkpoint does not hold, start new ones that depend on rank and iteration.
        """
        resume, self._resume = self._resume, None
        self.env = self.new_env()
        self.generator = torch.Generator(device=self.device).manual_seed(self.stream_seed())
        if resume is not None and rank() == 0:
            self.env.generator.set_state(resume["env_rng"])
            if "action_rng" in resume:  # absent from checkpoints written before it had its own generator
                self.generator.set_state(resume["action_rng"])

    def stream_seed(self) -> int:
        """This rank's seed for streams started at the current iteration (a fresh run: ``rank_seed(seed)``)."""
        return rank_seed(self.hparams.seed) + 7919 * self.iterations

    def new_env(self) -> BatchedTrialEnv:
        return BatchedTrialEnv(self.training_dist(), self.hparams.num_trials, seed=self.stream_seed())

    # ---------------------------------------------------------------------------- 1. play trials
    @torch.no_grad()
    def collect_trials(self) -> dict[str, torch.Tensor]:
        """One whole trial of ``num_trials`` fresh tasks; the GRU memory starts at zero and persists across episodes."""
        env, t_len, n = self.env, self.env.trial_length, self.hparams.num_trials
        obs = env.reset().to(self.device)
        hidden = self.policy.initial_state(n, self.device)
        task = self.task_parameters(env)
        task_features = torch.cat(list(task.values()), -1) if self.hparams.value_reads_task else None
        data = {
            "obs": torch.zeros(t_len, n, env.obs_dim, device=self.device),
            "actions": torch.zeros(t_len, n, dtype=torch.long, device=self.device),
            "log_probs": torch.zeros(t_len, n, device=self.device),
            "values": torch.zeros(t_len, n, device=self.device),
            "rewards": torch.zeros(t_len, n, device=self.device),
            "expected_rewards": torch.zeros(t_len, n, device=self.device),
        }
        for t in range(t_len):
            logits, value, hidden = self.policy(obs[None], hidden, task_features)
            log_p = F.log_softmax(logits[0], -1)
            action = torch.multinomial(log_p.exp(), 1, generator=self.generator).squeeze(1)
            data["obs"][t] = obs
            data["actions"][t] = action
            data["log_probs"][t] = log_p.gather(1, action[:, None]).squeeze(1)
            data["values"][t] = value[0]
            next_obs, reward, _ = env.step(action.cpu())
            data["rewards"][t] = reward.to(self.device)
            data["expected_rewards"][t] = env.expected_reward.to(self.device)
            obs = next_obs.to(self.device)
        self.env_steps += t_len * n
        # The task's parameters, training targets and the value's input only, never the policy's;
        # (1, N, ...), so the minibatches split them along the trial axis with the rest.
        if self.hparams.task_inference_coef:
            data["task_means"] = task["means"]
        if self.hparams.transition_inference_coef:
            data["task_transitions"] = task["transitions"].unflatten(-1, (-1, self.dist.num_states))
        if task_features is not None:
            data["task_features"] = task_features
        return data

    # ---------------------------------------------------------------------------- 2 + 3. update
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """One PPO iteration.

        With ``expected_rewards`` the returns sum E[r_t | s_t, a_t] (the task's reward mean) instead
        of the drawn r_t. The policy gradient stays unbiased — the noise r_t − E[r_t | s_t, a_t] is
        drawn after every action up to a_t, so it is uncorrelated with their score functions — and
        each advantage loses the noise of every later reward: over a 100-step trial, much of its
        variance (Bernoulli arms: up to 0.25 per pull; MDPs: 1 per step). The drawn reward
        still reaches the policy through its observation, so what it must learn is unchanged.

        With ``novelty_bonus`` the targets also pay for trying pairs new to the trial, a bonus that
        decays to 0 over the first ``novelty_bonus_fraction`` of the budget (see the class docstring).
        """
        start, hp = time.perf_counter(), self.hparams
        progress = self.env_steps / hp.total_env_steps
        if self.env.dist is not self.training_dist():  # the curriculum's share of the budget is spent
            self.env = self.new_env()
        data = self.collect_trials()
        expected = data.pop("expected_rewards")  # not a PPO input: only a target
        target = expected if hp.expected_rewards else data["rewards"]
        bonus = linear_schedule(hp.novelty_bonus, progress / hp.novelty_bonus_fraction, anneal=True)
        if bonus:
            tries = novelty(data["obs"], data["actions"], self.dist.num_actions)
            target = target + bonus * self.dist.reward_mean_std * tries
        rewards, values = target * hp.reward_scale, data["values"]
        terminated = torch.zeros_like(rewards, dtype=torch.bool)
        terminated[-1] = True  # the trial's end: no value beyond it
        next_values = torch.cat([values[1:], torch.zeros_like(values[:1])])
        data["advantages"], data["returns"] = gae(
            rewards, values, next_values, terminated, torch.zeros_like(terminated),
            hp.gamma, hp.gae_lambda,
        )  # fmt: skip
        metrics = self.ppo_update(data, progress)
        self.iterations += 1
        self.train_seconds += time.perf_counter() - start
        metrics["train/trial_return"] = float(data["rewards"].sum(0).mean())
        metrics["train/env_steps"] = float(self.env_steps)
        metrics["train/novelty_bonus"] = bonus
        self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=True)
        if self.env_steps >= hp.total_env_steps:
            self.trainer.should_stop = True

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Split the trials (axis 1) into ``num_minibatches`` groups of whole sequences."""
        n = self.hparams.num_trials
        perm = torch.randperm(n, device=self.device, generator=self.generator)
        for idx in perm.chunk(self.hparams.num_minibatches):
            yield {k: v[:, idx] for k, v in data.items()}

    def evaluate_actions(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Replay the GRU over whole trials from the zero state: ``(log_prob, entropy, value)``, each (T, n),
        plus the weighted task-inference loss with ``task_inference_coef`` or ``transition_inference_coef``."""
        obs = mb["obs"]
        stride = self.hparams.inference_stride
        logits, values, estimate, _ = self.policy.outputs(
            obs,
            self.policy.initial_state(obs.shape[1], obs.device),
            slice(self.iterations % stride, None, stride),
            mb.get("task_features"),
        )
        log_p = F.log_softmax(logits, -1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        log_prob = log_p.gather(-1, mb["actions"][..., None]).squeeze(-1)
        if estimate is None:
            return log_prob, entropy, values
        return log_prob, entropy, values, self.task_inference_loss(estimate, mb)

    def task_inference_loss(self, estimate: torch.Tensor, mb: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted squared error of the reward-mean estimates plus weighted cross-entropy of the
        next-state estimates, each against the trials' own task; both are minimised by the posterior mean.
        With ``policy_reads_uncertainty`` also the weighted squared error of the variance estimates
        against the (detached) mean estimates' squared errors: minimised by the posterior variance."""
        means, transition_logits, variances = estimate.split(self.task_sizes, dim=-1)
        loss = estimate.new_zeros(())
        if self.hparams.task_inference_coef:
            task_means = mb["task_means"].expand_as(means)
            loss = loss + self.hparams.task_inference_coef * F.mse_loss(means, task_means)
            if self.hparams.policy_reads_uncertainty:
                squared_error = (means.detach() - task_means) ** 2
                loss = loss + self.hparams.task_inference_coef * F.mse_loss(variances, squared_error)
        if self.hparams.transition_inference_coef:
            log_q = F.log_softmax(transition_logits.unflatten(-1, (-1, self.dist.num_states)), -1)
            cross_entropy = -(mb["task_transitions"] * log_q).sum(-1).mean()
            loss = loss + self.hparams.transition_inference_coef * cross_entropy
        return loss

    # ---------------------------------------------------------------------------- checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["leyden_rl2"] = {
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "train_seconds": self.train_seconds,
            "env_rng": self.env.generator.get_state(),
            "action_rng": self.generator.get_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["leyden_rl2"]
        self.env_steps, self.iterations = state["env_steps"], state["iterations"]
        self.train_seconds = state["train_seconds"]
        self.env.generator.set_state(state["env_rng"])
        self._resume = state


class RL2Agent:
    """Trained :class:`RL2` policies as one :class:`~leyden_rl.meta.evaluate.TrialAgent` (for the benchmark).

    ``reset`` zeroes the GRU memory — a new trial is a new task — and each ``act`` feeds the
    observation (which already carries the previous action, reward and done flag) and samples (as
    trained) or takes the most likely action. ``argmax_from`` is the share of the trial from which it
    takes the most likely action: 1 samples throughout, 0 takes the argmax throughout, and in between
    the agent samples early and then commits. Why: the MDP agents learnt to explore by sampling, and
    their argmax play throughout scores 5–6 below it, yet late in a trial a sampled action is mostly a
    slip, since little of the trial is left to use what it finds. ``temperature`` divides the logits
    before sampling: warmer sampling throughout bought the MDP agents nothing, but warmer sampling
    before a late argmax did (they under-explore early; the benchmark's tuning trials choose both).

    Several policies make an ensemble: each reads the same history with its own memory, and the
    agent acts on the mean of their action probabilities. Independently trained agents settle on
    different solutions (the seed spread of one recipe is wider than any one agent's noise), and the
    mean keeps what they agree on. One policy acts exactly as that policy.
    """

    def __init__(
        self,
        policy: TrialPolicy | Sequence[TrialPolicy],
        argmax_from: float = 1.0,
        seed: int = 0,
        temperature: float = 1.0,
    ) -> None:
        if not 0.0 <= argmax_from <= 1.0:
            raise LeydenConfigError(
                f"argmax_from={argmax_from} is not a share of the trial",
                "use 1 to sample throughout, 0 for the argmax throughout, or a share in between",
            )
        if temperature <= 0:
            raise LeydenConfigError(
                f"temperature={temperature} does not scale logits", "use temperature > 0 (or argmax_from=0)"
            )
        self.policies = [p.eval() for p in ([policy] if isinstance(policy, TrialPolicy) else policy)]
        if not self.policies:
            raise LeydenConfigError("RL2Agent got no policy", "pass one trained policy or a list of them")
        self.argmax_from, self.temperature = argmax_from, temperature
        self.generator = stream_generator(seed, "agent")

    def reset(self, env: BatchedTrialEnv) -> None:
        self.hidden = [policy.initial_state(env.num_envs) for policy in self.policies]

    @torch.no_grad()
    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        logits = []
        for i, policy in enumerate(self.policies):
            member_logits, _, self.hidden[i] = policy(obs[None], self.hidden[i])
            logits.append(member_logits[0])
        greedy = env.t >= self.argmax_from * env.trial_length
        if greedy and len(logits) == 1:
            return logits[0].argmax(-1)  # the logits' own argmax: a softmax could round near-ties together
        probs = torch.stack([F.softmax(member / self.temperature, -1) for member in logits]).mean(0)
        if greedy:
            return probs.argmax(-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)

    def update(
        self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv
    ) -> None:
        """Nothing to do: the experience arrives through the next observation."""
