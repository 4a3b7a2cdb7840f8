"""Policy and value networks: MLPs for vector observations, the Nature-DQN CNN for stacked frames.

Distributions are written out (log-softmax, Gumbel-max sampling, diagonal Gaussian) instead of
``torch.distributions`` objects: acting happens once per env step, and building distribution
objects costs more than the tiny networks themselves.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import nn

from leyden_core.errors import LeydenConfigError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise LeydenConfigError(f"unknown activation {name!r}", f"use one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int | None, activation: str = "tanh") -> nn.Sequential:
    """Linear/activation stack; ``out_dim=None`` ends on the last hidden activation."""
    act = _activation(activation)
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), act()]
        in_dim = width
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class NatureCNN(nn.Module):
    """The DQN-paper encoder (Mnih et al., 2015) for (C, H, W) uint8 frame stacks; scales to [0, 1]."""

    def __init__(self, in_channels: int, image_size: tuple[int, int], features: int = 512) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            n = self.conv(torch.zeros(1, in_channels, *image_size)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n, features), nn.ReLU())
        self.num_features = features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(obs.float() / 255.0))


class PixelEncoder(nn.Module):
    """CURL's / SAC-AE's encoder for (C, 84, 84) uint8 stacks: 4 conv layers of ``filters`` 3×3 (first
    stride 2), a linear map to ``features``, LayerNorm and tanh (Laskin et al., 2020, Table 3).

    The bounded, normalised output keeps the critic's inputs on one scale while the encoder itself
    is being trained by the critic and the contrastive loss.
    """

    def __init__(self, in_channels: int, image_size: int, features: int = 50, filters: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, filters, 3, stride=2), nn.ReLU(),
            nn.Conv2d(filters, filters, 3, stride=1), nn.ReLU(),
            nn.Conv2d(filters, filters, 3, stride=1), nn.ReLU(),
            nn.Conv2d(filters, filters, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )  # fmt: skip
        with torch.no_grad():
            n = self.conv(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n, features), nn.LayerNorm(features), nn.Tanh())
        self.num_features = features
        _orthogonal(self, math.sqrt(2))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(obs.float() / 255.0))


class FlattenMLP(nn.Module):
    """MLP encoder for vector observations (flattened), exposing ``num_features``."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.body = mlp(in_dim, hidden, None, activation)
        self.num_features = hidden[-1] if hidden else in_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(obs.flatten(1).float())


def is_image_space(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and space.dtype == "uint8" and len(space.shape) == 3


def make_encoder(obs_space: gym.Space, hidden: tuple[int, ...], activation: str) -> nn.Module:
    """NatureCNN for (C, H, W) uint8 image stacks, else an MLP over the flattened vector."""
    if not isinstance(obs_space, gym.spaces.Box):
        raise LeydenConfigError(
            f"observation space {obs_space} is not supported", "use an env with a Box observation space"
        )
    if is_image_space(obs_space):
        c, h, w = obs_space.shape
        if c > 16:
            raise LeydenConfigError(
                f"image observations must be channels-first (C, H, W), got {obs_space.shape}",
                "wrap the env in gymnasium's FrameStackObservation/AtariPreprocessing or transpose it",
            )
        return NatureCNN(c, (h, w))
    return FlattenMLP(math.prod(obs_space.shape), hidden, activation)


def action_dim(space: gym.Space) -> int:
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0])
    raise LeydenConfigError(
        f"action space {space} is not supported", "use a Discrete or a 1-D Box action space"
    )


SDE_EPSILON = 1e-6  # added to gSDE's variance, so a zero feature vector still has a finite log-prob


def _orthogonal(module: nn.Module, gain: float) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)


class ParallelMLP(nn.Module):
    """``k`` independent MLPs of equal shape evaluated together, one batched matmul per layer.

    PPO's separate actor and critic, and SAC's twin critics, are pairs of small MLPs; running
    them as one ``baddbmm`` per layer halves the number of kernel launches, which is what costs
    time at these sizes. Output ``(k, B, max(out_dims))``; net ``i`` uses its first ``out_dims[i]``
    columns. ``init="orthogonal"``: each net orthogonally initialised (gain √2, last layer
    ``out_gains[i]``), PPO's convention; ``init="linear"``: ``nn.Linear``'s default, U(±1/√fan_in).
    """

    def __init__(
        self, k: int, in_dim: int, hidden: tuple[int, ...], out_dims: tuple[int, ...],
        activation: str, out_gains: tuple[float, ...] | None = None, init: str = "orthogonal",
    ) -> None:  # fmt: skip
        super().__init__()
        dims = [in_dim, *hidden, max(out_dims)]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        out_gains = out_gains or (1.0,) * k
        for layer, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            w, b = torch.empty(k, d_in, d_out), torch.zeros(k, 1, d_out)
            if init == "linear":
                bound = 1 / math.sqrt(d_in)
                w.uniform_(-bound, bound), b.uniform_(-bound, bound)
            else:
                for i in range(k):
                    gain = out_gains[i] if layer == len(dims) - 2 else math.sqrt(2)
                    nn.init.orthogonal_(w[i].T, gain)  # orthogonal rows of the (out, in) matrix
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        self.act = _activation(activation)()
        self.k = k

    def forward(self, x: torch.Tensor, first: int | None = None) -> torch.Tensor:
        """``x``: (B, in) shared by all nets, or (k, B, in); ``first``: evaluate only the first nets."""
        return self.features_and_output(x, first)[1]

    def features_and_output(
        self, x: torch.Tensor, first: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(last hidden layer's activations (k, B, hidden[-1]), output)``; see :meth:`forward`."""
        k = self.k if first is None else first
        h = x.expand(k, *x.shape) if x.ndim == 2 else x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if i == last:
                features = h
            h = torch.baddbmm(b, h, w) if first is None else torch.baddbmm(b[:k], h, w[:k])
            if i < last:
                h = self.act(h)
        return features, h


class ActorCritic(nn.Module):
    """PPO's policy π(a|s) and value V(s) for Discrete (categorical) or Box (diagonal Gaussian) actions.

    Vector observations get separate actor and critic MLPs (as in SB3/CleanRL: sharing hurts on
    small control tasks), run together as a :class:`ParallelMLP`; image observations share one
    NatureCNN encoder between two linear heads. ``orthogonal_init``: orthogonal initialisation (gain √2,
    actor head 0.01, critic head 1), else ``nn.Linear``'s default.

    Box actions: a Gaussian around the actor's output with a learned log-std (initially
    ``log_std_init``), or with ``use_sde`` generalized state-dependent exploration (gSDE, Raffin et
    al. 2022): the noise is ``φ(s)·W``, linear in the actor's last hidden features φ(s), with
    ``W ~ N(0, σ²)`` per env held fixed between :meth:`resample_exploration` calls, so consecutive
    steps explore coherently (smooth actions) instead of jittering. Then π(a|s) is a Gaussian with
    variance ``Σ_i φ_i(s)² σ_ij²`` per action j, φ detached (the features learn from the mean only),
    and σ (features × actions) is learned from ``log_std_init``.
    """

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, hidden: tuple[int, ...], activation: str,
        log_std_init: float = 0.0, orthogonal_init: bool = True, use_sde: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if use_sde and self.discrete:
            raise LeydenConfigError(
                "use_sde explores continuous actions; this action space is Discrete", "set use_sde: false"
            )
        self.n_act = n_act = action_dim(action_space)
        self.image = is_image_space(obs_space)
        self.use_sde = use_sde
        if self.image:
            self.encoder = make_encoder(obs_space, hidden, activation)
            self.actor_head = nn.Linear(self.encoder.num_features, n_act)
            self.critic_head = nn.Linear(self.encoder.num_features, 1)
            if orthogonal_init:
                _orthogonal(self.encoder, math.sqrt(2))
                _orthogonal(self.actor_head, 0.01)
                _orthogonal(self.critic_head, 1.0)
            num_features = self.encoder.num_features
        else:
            self.nets = ParallelMLP(
                2, math.prod(obs_space.shape), hidden, (n_act, 1), activation, (0.01, 1.0),
                init="orthogonal" if orthogonal_init else "linear",
            )  # fmt: skip
            num_features = hidden[-1] if hidden else math.prod(obs_space.shape)
        if not self.discrete:
            shape = (num_features, n_act) if use_sde else (n_act,)
            self.log_std = nn.Parameter(torch.full(shape, float(log_std_init)))
        # gSDE's exploration matrices W, one (features, actions) per env: not learned, not checkpointed
        self.register_buffer("exploration", torch.zeros(0, num_features, n_act), persistent=False)

    def _heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(actor output, value, actor features φ(s))``."""
        if self.image:
            h = self.encoder(obs)
            return self.actor_head(h), self.critic_head(h).squeeze(-1), h
        features, out = self.nets.features_and_output(obs.flatten(1).float())
        return out[0, :, : self.n_act], out[1, :, 0], features[0]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self._heads(obs)[1]

    def _log_std(self, features: torch.Tensor, like: torch.Tensor) -> torch.Tensor | None:
        """The Gaussian's log-std per sample, shaped like the mean; None for a categorical."""
        if self.discrete:
            return None
        if not self.use_sde:
            return self.log_std.expand_as(like)
        variance = features.detach().pow(2) @ self.log_std.exp().pow(2)
        return 0.5 * torch.log(variance + SDE_EPSILON)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """π(·|s): ``(logits, None)`` for Discrete actions, ``(mean, log-std)`` (B, A) each for Box."""
        out, _, features = self._heads(obs)
        return out, self._log_std(features, out)

    def resample_exploration(self, num_envs: int) -> None:
        """gSDE: draw each env's exploration matrix W ~ N(0, σ²) afresh."""
        std = self.log_std.detach().exp()
        self.exploration = torch.randn(num_envs, *std.shape, device=std.device) * std

    def act(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or take the mode of) π; returns ``(action, log_prob, value)``. With gSDE, row i of
        ``obs`` explores with env i's matrix (drawn here if there are none for this many envs)."""
        out, value, features = self._heads(obs)
        log_std = self._log_std(features, out)
        if not self.use_sde or deterministic:
            return *sample_actions(out, log_std, deterministic), value
        if len(self.exploration) != len(obs):
            self.resample_exploration(len(obs))
        action = out + torch.bmm(features.detach().unsqueeze(1), self.exploration).squeeze(1)
        return action, log_prob_entropy(out, action, log_std)[0], value

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(log_prob, entropy, value)`` of given actions under the current parameters."""
        out, value, features = self._heads(obs)
        log_prob, entropy = log_prob_entropy(out, actions, self._log_std(features, out))
        return log_prob, entropy, value


def sample_actions(
    out: torch.Tensor, log_std: torch.Tensor | None, deterministic: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(action, log_prob)`` drawn from (or the mode of) π given the actor's output: logits of a
    categorical when ``log_std`` is None, else the mean of a diagonal Gaussian with that log-std."""
    if log_std is None:
        if deterministic:
            action = out.argmax(-1)
        else:  # Gumbel-max: one fused sample from the categorical
            action = (out - torch.empty_like(out).exponential_().log()).argmax(-1)
        return action, out.log_softmax(-1).gather(-1, action.unsqueeze(-1)).squeeze(-1)
    action = out if deterministic else out + log_std.exp() * torch.randn_like(out)
    return action, log_prob_entropy(out, action, log_std)[0]


def log_prob_entropy(
    out: torch.Tensor, actions: torch.Tensor, log_std: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log π(a|s), entropy of π(·|s))`` given the actor's output (see :func:`sample_actions`)."""
    if log_std is None:
        logp = out.log_softmax(-1)
        entropy = -(logp.exp() * logp).sum(-1)
        return logp.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy
    log_std = log_std.expand_as(out)
    z = (actions - out) / log_std.exp()
    logp = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)
    return logp, entropy


class QNetwork(nn.Module):
    """Q(s, ·) for Discrete actions; ``dueling`` splits it into V(s) + A(s, a) − mean A (Wang et al., 2016)."""

    def __init__(
        self, obs_space: gym.Space, n_actions: int, hidden: tuple[int, ...], activation: str, dueling: bool
    ):
        super().__init__()
        self.body = make_encoder(obs_space, hidden, activation)
        self.dueling = dueling
        self.advantage = nn.Linear(self.body.num_features, n_actions)
        self.value = nn.Linear(self.body.num_features, 1) if dueling else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.body(obs)
        a = self.advantage(h)
        if self.value is None:
            return a
        return self.value(h) + a - a.mean(-1, keepdim=True)


class SquashedGaussianActor(nn.Module):
    """SAC's policy: a Gaussian squashed by tanh and rescaled to the Box bounds."""

    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(
        self, obs_space: gym.Space, action_space: gym.spaces.Box, hidden: tuple[int, ...], activation: str
    ):
        super().__init__()
        self.body = make_encoder(obs_space, hidden, activation)
        n = action_dim(action_space)
        self.mu = nn.Linear(self.body.num_features, n)
        self.log_std = nn.Linear(self.body.num_features, n)
        low, high = torch.as_tensor(action_space.low), torch.as_tensor(action_space.high)
        self.register_buffer("scale", (high - low) / 2.0)
        self.register_buffer("bias", (high + low) / 2.0)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised ``(action, log_prob)`` with the tanh change-of-variables correction."""
        h = self.body(obs)
        mu = self.mu(h)
        log_std = self.log_std(h).clamp(self.LOG_STD_MIN, self.LOG_STD_MAX)
        u = mu if deterministic else mu + log_std.exp() * torch.randn_like(mu)
        y = torch.tanh(u)
        logp = (-0.5 * ((u - mu) / log_std.exp()).pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (torch.log(self.scale * (1 - y.pow(2)) + 1e-6)).sum(-1)
        return y * self.scale + self.bias, logp


class TwinQ(nn.Module):
    """Independent Q(s, a) critics for continuous actions: two for clipped double-Q (Fujimoto et al.,
    2018; SAC, TD3), one for DDPG. ``forward`` returns one (B,) tensor per critic. ``init`` is
    :class:`ParallelMLP`'s."""

    def __init__(
        self, obs_space: gym.Space, action_space: gym.Space, hidden: tuple[int, ...], activation: str,
        num_critics: int = 2, init: str = "orthogonal",
    ):  # fmt: skip
        super().__init__()
        n = action_dim(action_space)
        if is_image_space(obs_space):
            raise LeydenConfigError(
                "the Q critics take vector observations; image observations are not supported",
                "use a vector-observation env (e.g. Pendulum-v1, HalfCheetah-v5)",
            )
        d = math.prod(obs_space.shape) + n
        self.nets = ParallelMLP(num_critics, d, hidden, (1,) * num_critics, activation, init=init)

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, first: int | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Q of every critic, or of the ``first`` ones only (TD3's actor ascends Q_1 alone)."""
        q = self.nets(torch.cat([obs.flatten(1).float(), actions], dim=-1), first)[..., 0]
        return tuple(q)


class DeterministicActor(nn.Module):
    """DDPG's and TD3's policy μ(s): an MLP, tanh, rescaled to the Box bounds."""

    def __init__(
        self, obs_space: gym.Space, action_space: gym.spaces.Box, hidden: tuple[int, ...], activation: str
    ):
        super().__init__()
        self.body = make_encoder(obs_space, hidden, activation)
        self.mu = nn.Linear(self.body.num_features, action_dim(action_space))
        low, high = torch.as_tensor(action_space.low), torch.as_tensor(action_space.high)
        self.register_buffer("scale", (high - low) / 2.0)
        self.register_buffer("bias", (high + low) / 2.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mu(self.body(obs))) * self.scale + self.bias
