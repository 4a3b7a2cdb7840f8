"""Trust Region Policy Optimization (Schulman et al., 2015) with GAE(λ), as a LightningModule.

Each ``training_step`` is one TRPO iteration:

1. collect ``num_steps`` steps from each of ``num_envs`` envs and compute GAE(λ) advantages — the
   rollout PPO and A2C use (:mod:`leyden_rl.on_policy`);
2. policy: the gradient g of the surrogate ``E[π_θ/π_old · A]``, the direction ``s = F⁻¹g`` by
   conjugate gradient on Fisher-vector products, the step scaled to the KL bound ``target_kl``, and
   a backtracking line search that keeps the first step with mean KL ≤ ``target_kl`` and a better
   surrogate (:mod:`leyden_rl.natural_gradient`);
3. value function: ``critic_epochs`` passes of minibatch Adam regression on the GAE returns.

Under DDP every gradient, Fisher-vector product, KL and surrogate is averaged over ranks, so each
rank takes the same step and the weights stay identical. TRPO computes its gradients with
``torch.autograd.grad`` (the Fisher-vector product differentiates twice, which DDP's gradient hooks
do not support) and averages them with one all-reduce per vector.
"""

from __future__ import annotations

from typing import Any

import torch

from leyden_core.checks import check_count, check_fraction, check_positive
from leyden_core.distributed import all_reduce_mean
from leyden_core.errors import LeydenConfigError
from leyden_rl.losses import normalize_advantages, value_loss
from leyden_rl.natural_gradient import (
    backtracking_line_search,
    categorical_kl,
    conjugate_gradient,
    diagonal_gaussian_kl,
    fisher_vector_product,
    flat,
    natural_step,
)
from leyden_rl.networks import log_prob_entropy
from leyden_rl.on_policy import OnPolicyModule

Distribution = tuple[torch.Tensor, torch.Tensor | None]  # ActorCritic.distribution: (logits or mean, log-std)


class TRPO(OnPolicyModule):
    """TRPO for Discrete or Box actions (separate actor and critic MLPs; SB3-contrib's defaults).

    Args:
        env_id, num_envs, num_steps, total_env_steps, seed, vectorization, env_kwargs: as for PPO.
        target_kl: the trust region δ, a bound on the mean KL(π_old ‖ π_new) of one update.
        cg_steps, cg_damping: conjugate-gradient iterations and the damping λ added to F.
        line_search_shrink, line_search_steps: backtracking factor and the number of tries.
        learning_rate: Adam step size of the value function; critic_epochs, batch_size: its passes
            over each rollout and minibatch size.
        gamma, gae_lambda: discount and GAE λ; normalize_advantage: standardise A over the rollout.
        hidden_sizes, activation: MLP shape (ignored for image observations).
        log_std_init, orthogonal_init, use_sde, sde_sample_freq: the Gaussian's initial log-std, orthogonal
            initialisation, and gSDE exploration (:class:`~leyden_rl.on_policy.OnPolicyModule`).
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        num_envs: int = 1,
        num_steps: int = 2048,
        total_env_steps: int = 100_000,
        target_kl: float = 0.01,
        cg_steps: int = 15,
        cg_damping: float = 0.1,
        line_search_shrink: float = 0.8,
        line_search_steps: int = 10,
        learning_rate: float = 1e-3,
        critic_epochs: int = 10,
        batch_size: int = 128,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        normalize_advantage: bool = True,
        hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        log_std_init: float = 0.0,
        orthogonal_init: bool = True,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        for name, value, example in (
            ("target_kl", target_kl, 0.01), ("learning_rate", learning_rate, 1e-3),
            ("cg_damping", cg_damping, 0.1),
        ):  # fmt: skip
            check_positive(name, value, example)
        check_fraction("line_search_shrink", line_search_shrink, 0.8, include_one=False)
        check_positive("line_search_shrink", line_search_shrink, 0.8)
        for name, value, example in (("gamma", gamma, 0.99), ("gae_lambda", gae_lambda, 0.95)):
            check_fraction(name, value, example)
        for name, value in (
            ("num_envs", num_envs), ("num_steps", num_steps), ("cg_steps", cg_steps),
            ("line_search_steps", line_search_steps), ("critic_epochs", critic_epochs), ("batch_size", batch_size),
        ):  # fmt: skip
            check_count(name, value)
        if batch_size > num_envs * num_steps:
            raise LeydenConfigError(
                f"batch_size {batch_size} is larger than a rollout (num_envs·num_steps = {num_envs * num_steps})",
                f"set batch_size <= {num_envs * num_steps}, or collect more per rollout (num_steps)",
            )
        super().__init__(
            env_id, num_envs, num_steps, total_env_steps, seed, vectorization, env_kwargs,
            hidden_sizes, activation, log_std_init=log_std_init, orthogonal_init=orthogonal_init, use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
        )  # fmt: skip
        self.save_hyperparameters()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Only the value loss reaches this optimizer; the policy moves by the natural-gradient step.
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.learning_rate, fused=True)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        data = self.rollout_with_advantages(self.hparams.gamma, self.hparams.gae_lambda)
        data = {k: v.flatten(0, 1) for k, v in data.items()}
        metrics = self.policy_step(data)
        metrics.update(self.value_regression(data))
        self.end_iteration(metrics)

    # ---------------------------------------------------------------------------- 2. policy
    def mean_kl(self, obs: torch.Tensor, old: Distribution) -> torch.Tensor:
        """This rank's mean KL(π_old ‖ π_θ) over ``obs``, from the old policy's detached distribution."""
        output, log_std = self.policy.distribution(obs)
        if self.policy.discrete:
            return categorical_kl(old[0], output).mean()
        return diagonal_gaussian_kl(old[0], old[1], output, log_std).mean()

    def policy_step(self, data: dict[str, torch.Tensor]) -> dict[str, float]:
        hp = self.hparams
        params = list(self.policy.parameters())
        obs, actions, old_log_prob = data["obs"], data["actions"], data["log_probs"]
        adv = normalize_advantages(data["advantages"]) if hp.normalize_advantage else data["advantages"]
        with torch.no_grad():
            old = self.policy.distribution(obs)

        def surrogate(dist: Distribution) -> torch.Tensor:
            return ((log_prob_entropy(dist[0], actions, dist[1])[0] - old_log_prob).exp() * adv).mean()

        g = flat(
            torch.autograd.grad(surrogate(self.policy.distribution(obs)), params, materialize_grads=True)
        )
        g = all_reduce_mean(g)
        kl = self.mean_kl(obs, old)
        fvp = fisher_vector_product(kl, params, hp.cg_damping, all_reduce_mean)
        direction = conjugate_gradient(fvp, g, hp.cg_steps)
        with torch.enable_grad():
            full_step = natural_step(direction, fvp(direction), hp.target_kl)

        @torch.no_grad()
        def evaluate() -> tuple[float, float]:
            both = torch.stack([surrogate(self.policy.distribution(obs)), self.mean_kl(obs, old)])
            objective, new_kl = all_reduce_mean(both).tolist()  # every rank decides alike
            return objective, new_kl

        accepted, fraction = backtracking_line_search(
            params, full_step, evaluate, hp.target_kl, hp.line_search_shrink, hp.line_search_steps
        )
        objective, new_kl = evaluate()
        return {
            "train/surrogate": objective, "train/kl": new_kl, "train/step_fraction": fraction,
            "train/line_search_accepted": float(accepted), "train/gradient_norm": float(g.norm()),
        }  # fmt: skip

    # ---------------------------------------------------------------------------- 3. value function
    def value_regression(self, data: dict[str, torch.Tensor]) -> dict[str, Any]:
        hp = self.hparams
        opt = self.optimizers()
        params = list(self.policy.parameters())
        obs, returns = data["obs"], data["returns"]
        total = obs.shape[0]
        losses = []
        for _ in range(hp.critic_epochs):
            perm = torch.randperm(total, device=self.device)
            for start in range(0, total, hp.batch_size):
                idx = perm[start : start + hp.batch_size]
                loss = value_loss(self.policy.value(obs[idx]), returns[idx])
                grads = flat(torch.autograd.grad(loss, params, materialize_grads=True))
                grads = all_reduce_mean(grads)
                offset = 0
                for p in params:
                    p.grad = grads[offset : offset + p.numel()].view_as(p)
                    offset += p.numel()
                opt.step()
                losses.append(loss.detach())
        opt.zero_grad(set_to_none=True)
        return {"train/value_loss": float(torch.stack(losses).mean())}
