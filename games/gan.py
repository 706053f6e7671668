"""GANs as games: the Dirac GAN, the Gaussian-mean WGAN, and a 2-D mixture of Gaussians."""

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, PyTree, Scalar

import minimax as mx
from minimax.checks import check_choice, check_int, check_scalar

from ._common import as_float, check_shape, float_dtype

_DIRAC_LOSSES = ("standard", "non-saturating", "wgan")


class DiracGAN(mx.AbstractGeneralSumGame):
    r"""The Dirac GAN of Mescheder, Geiger and Nowozin (2018): the smallest GAN whose training
    does not converge under simultaneous gradient descent-ascent.

    The data distribution is a point mass at 0, the generator is a point mass
    $p_\theta = \delta_\theta$ and the discriminator is linear, $D_\psi(x) = \psi x$. Both players
    are scalars. With a function `f`, the GAN objective

    $$L(\theta, \psi) = \mathbb{E}_{x \sim p_\theta}\big[f(D_\psi(x))\big] +
    \mathbb{E}_{x \sim \delta_0}\big[f(-D_\psi(x))\big] = f(\psi\theta) + f(0)$$

    is maximised by the discriminator $\psi$ (player 1, whose loss is
    $-L + \tfrac{\gamma}{2}\psi^2$) and, depending on `loss`, the generator $\theta$ (player 0)
    minimises

    - `"standard"`: `L` itself, with $f(t) = -\log(1 + e^{-t})$;
    - `"non-saturating"`: $-f(-\psi\theta) = \log(1 + e^{\psi\theta})$, with the same `f` for the
      discriminator;
    - `"wgan"`: `L` with $f(t) = t$, i.e. the bilinear game $\psi\theta$ (the weight clipping of
      the original WGAN is left out).

    The unique equilibrium is $(\theta, \psi) = (0, 0)$. There the game's Jacobian has the purely
    imaginary eigenvalues $\pm i f'(0)$ ($f'(0) = 1/2$ for the standard losses, 1 for WGAN), so
    simultaneous gradient descent-ascent spirals away from it at any step size: without bound for
    WGAN, slowly for the standard loss (whose gradients saturate far out), and onto a limit cycle
    for the non-saturating loss (whose nonlinearity pulls large orbits back in). Optimistic and
    extra-gradient methods, or the R1 gradient penalty $\gamma > 0$, converge locally.

    **Arguments:**

    - `loss`: `"standard"` (default), `"non-saturating"` or `"wgan"`.
    - `gradient_penalty`: $\gamma \ge 0$, the weight of the R1 penalty added to the
      discriminator's loss, $\tfrac{\gamma}{2}\mathbb{E}_{x \sim \delta_0}|\nabla_x D_\psi(x)|^2
      = \tfrac{\gamma}{2}\psi^2$; 0 (no penalty) by default.

    **References:** Mescheder, Geiger, Nowozin (2018), *Which training methods for GANs do
    actually converge?*, ICML.

    ```python
    >>> import jax.numpy as jnp, games
    >>> game = games.DiracGAN("wgan")
    >>> g_theta, g_psi = game.vector_field((jnp.array(1.0), jnp.array(2.0)))
    >>> print(g_theta, g_psi)  # (psi, -theta)
    2.0 -1.0

    ```
    """

    loss: str = eqx.field(static=True)
    gradient_penalty: float = eqx.field(static=True)

    def __init__(self, loss: str = "standard", gradient_penalty=0.0):
        check_choice("loss", loss, _DIRAC_LOSSES)
        check_scalar("gradient_penalty", gradient_penalty, low=0)
        self.loss = loss
        self.gradient_penalty = float(gradient_penalty)

    def losses(
        self, players: mx.Players, args: Any = None, key: PRNGKeyArray | None = None
    ) -> tuple[Scalar, Scalar]:
        theta, psi = players
        check_shape("players[0]", theta, (), "(the generator's position theta is a scalar)")
        check_shape("players[1]", psi, (), "(the discriminator's slope psi is a scalar)")
        t = psi * theta
        if self.loss == "wgan":
            value = t
            loss0 = value
        else:
            # f(t) = -log(1 + exp(-t)) = -softplus(-t); f(0) = -log 2.
            value = -jax.nn.softplus(-t) - jnp.log(jnp.asarray(2.0, t.dtype))
            loss0 = value if self.loss == "standard" else jax.nn.softplus(t)
        # R1 on the data, a point mass at 0: the gradient of D(x) = psi x is psi, so the
        # penalty is gamma/2 psi^2.
        real = jnp.zeros((1,), psi.dtype)
        loss1 = -value + mx.gan.r1(lambda x: psi * x, real, self.gradient_penalty)
        return loss0, loss1

    def equilibrium(self, near: mx.Players | None = None) -> tuple[Scalar, Scalar]:
        """The unique equilibrium `(theta*, psi*) = (0, 0)` (`near` is ignored)."""
        zero = jnp.zeros((), jnp.result_type(float))
        return zero, zero


class GaussianMeanWGAN(mx.AbstractZeroSumGame):
    r"""Learning the mean of a Gaussian with a linear WGAN (Daskalakis, Ilyas, Syrgkanis and Zeng
    2018).

    The data are $x \sim N(v, I_d)$, the generator is $G_\theta(z) = \theta + z$ with
    $z \sim N(0, I_d)$ and the discriminator is linear, $D_w(x) = \langle w, x\rangle$. The
    generator $\theta$ (player 0) minimises and the discriminator `w` (player 1) maximises the
    WGAN objective

    $$f(\theta, w) = \mathbb{E}_{x}\big[\langle w, x\rangle\big] -
    \mathbb{E}_{z}\big[\langle w, \theta + z\rangle\big],$$

    whose expectation is the bilinear $\langle w, v - \theta\rangle$, with the unique equilibrium
    $\theta = v, w = 0$. With a `key`, `f` is estimated on a fresh mini-batch of `batch_size`
    data points and latent draws, so the discriminator's gradient
    $\bar x - \theta - \bar z$ is noisy (the generator's, `-w`, is exact); without a key the game
    is the deterministic expected game, on which [`minimax.cycling`][] can be measured.

    **Arguments:**

    - `mean`: the data mean `v`, a `(d,)` vector; `(3, 4)` by default.
    - `batch_size`: the mini-batch size of the stochastic game, a positive int (default 64).

    **References:** Daskalakis, Ilyas, Syrgkanis, Zeng (2018), *Training GANs with optimism*, ICLR.
    """

    mean: Float[Array, " d"]
    batch_size: int = eqx.field(static=True)

    def __init__(self, mean=(3.0, 4.0), batch_size=64):
        self.mean = as_float("mean", mean, 1)
        check_int("batch_size", batch_size)
        self.batch_size = batch_size

    def value(
        self, x: PyTree, y: PyTree, args: Any = None, key: PRNGKeyArray | None = None
    ) -> Scalar:
        theta, w = x, y
        (d,) = self.mean.shape
        why = f"(the data mean has shape {self.mean.shape})"
        check_shape("players[0]", theta, (d,), why)
        check_shape("players[1]", w, (d,), why)
        mean = self.mean.astype(theta.dtype)
        if key is None:
            return w @ (mean - theta)
        key_x, key_z = jax.random.split(key)
        shape = (self.batch_size, d)
        data = mean[None, :] + jax.random.normal(key_x, shape, theta.dtype)
        fake = theta[None, :] + jax.random.normal(key_z, shape, theta.dtype)
        return jnp.mean(data @ w) - jnp.mean(fake @ w)

    def equilibrium(
        self, near: mx.Players | None = None
    ) -> tuple[Float[Array, " d"], Float[Array, " d"]]:
        """The unique equilibrium `(theta*, w*) = (v, 0)` (`near` is ignored)."""
        return self.mean, jnp.zeros_like(self.mean)


class MixtureMetrics(NamedTuple):
    """Sample quality on a mixture of Gaussians, as reported in the unrolled-GAN literature.

    **Fields:**

    - `modes_covered`: how many modes received at least `min_count` high-quality samples.
    - `high_quality`: the fraction of samples within `3 std` of their nearest mode.
    - `counts`: the number of high-quality samples at each mode, shape `(k,)`.
    """

    modes_covered: Int[Array, ""]
    high_quality: Float[Array, ""]
    counts: Int[Array, " k"]


class MixtureGAN(mx.AbstractGeneralSumGame):
    r"""A GAN on a mixture of Gaussians: the standard test of mode collapse (Metz et al. 2017;
    Srivastava et al. 2017).

    The data distribution is an equal-weight mixture of `k` isotropic Gaussians,

    $$p_{\text{data}} = \frac1k \sum_{j=1}^k N(\mu_j, \sigma^2 I),$$

    with the means $\mu_j$ on a ring (`kind="ring"`: 8 modes on the circle of radius 2,
    $\sigma = 0.02$) or a grid (`kind="grid"`: the 5x5 grid $\{-4, -2, 0, 2, 4\}^2$,
    $\sigma = 0.05$). The players are callables, typically `eqx.nn.MLP`s (see
    `init_players`): a generator `G` (player 0) from latent vectors $z \sim N(0, I)$ of size
    `latent_size` to points, and a discriminator `D` (player 1) from a point to one real logit.
    Both play the non-saturating GAN of Goodfellow et al. (2014), on a fresh mini-batch of
    `batch_size` data points and latent draws at every step (so `key` is required):

    $$\ell_D = \mathbb{E}_{x}\big[\log(1 + e^{-D(x)})\big] +
    \mathbb{E}_{z}\big[\log(1 + e^{D(G(z))})\big], \qquad
    \ell_G = \mathbb{E}_{z}\big[\log(1 + e^{-D(G(z))})\big].$$

    At the ideal equilibrium `G` reproduces the data distribution and `D` outputs 0 everywhere
    (probability 1/2); there is no closed form for network parameters, so progress is measured
    with `metrics` (modes covered, fraction of high-quality samples) and
    `discriminator_gap` (how well `D` still separates real from generated samples: it
    oscillates when training cycles and tends to 0 as it converges).

    **Arguments:**

    - `kind`: `"ring"` (default) or `"grid"`.
    - `num_modes`: the number of modes: on the ring (default 8), or on the grid, a perfect
      square (default 25).
    - `std`: the modes' standard deviation $\sigma > 0$; 0.02 for the ring, 0.05 for the grid by
      default.
    - `batch_size`: data points and latent draws per step, a positive int (default 256).
    - `latent_size`: the size of the generator's input, a positive int (default 16).
    - `means`: instead of `kind` and `num_modes`, the mode centres as a `(k, d)` array (data of
      any dimension `d`).

    **References:** Metz, Poole, Pfau, Sohl-Dickstein (2017), *Unrolled generative adversarial
    networks*, ICLR; Srivastava, Valkov, Russell, Gutmann, Sutton (2017), *VEEGAN: reducing mode
    collapse in GANs using implicit variational learning*, NeurIPS; Goodfellow et al. (2014),
    *Generative adversarial nets*, NeurIPS.

    ```python
    >>> import jax, minimax as mx, games
    >>> game = games.MixtureGAN("ring")
    >>> players = game.init_players(jax.random.key(0))
    >>> solver = mx.Simultaneous(mx.optimistic_adam(1e-3, b1=0.5, b2=0.9))
    >>> sol = mx.solve(game, solver, players, steps=10, key=jax.random.key(1), save_every=None)
    >>> samples = game.sample(sol.players[0], jax.random.key(2), 1000)
    >>> print(samples.shape, game.metrics(samples).counts.shape)
    (1000, 2) (8,)

    ```
    """

    means: Float[Array, "k d"]
    std: float = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)

    def __init__(
        self,
        kind="ring",
        *,
        num_modes=None,
        std=None,
        batch_size=256,
        latent_size=16,
        means=None,
    ):
        if means is not None:
            if num_modes is not None:
                raise ValueError("Pass `num_modes` or `means`, not both.")
            self.means = as_float("means", means, 2)
            if self.means.shape[0] < 1 or self.means.shape[1] < 1:
                raise ValueError(
                    f"`means` must hold at least one mode of dimension >= 1, got shape "
                    f"{self.means.shape}."
                )
            kind, default_std = "custom", None
        elif kind == "ring":
            num_modes = 8 if num_modes is None else num_modes
            check_int("num_modes", num_modes)
            # endpoint=False: linspace(0, 2 pi, k) would put the first mode twice.
            angles = jnp.linspace(0.0, 2 * jnp.pi, num_modes, endpoint=False)
            self.means = 2.0 * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
            default_std = 0.02
        elif kind == "grid":
            num_modes = 25 if num_modes is None else num_modes
            check_int("num_modes", num_modes)
            side = math.isqrt(num_modes)
            if side * side != num_modes:
                raise ValueError(
                    f"`num_modes` must be a perfect square for kind='grid', got {num_modes}."
                )
            ticks = 2.0 * (jnp.arange(side, dtype=float) - (side - 1) / 2)
            gx, gy = jnp.meshgrid(ticks, ticks, indexing="ij")
            self.means = jnp.stack([gx.ravel(), gy.ravel()], axis=1)
            default_std = 0.05
        else:
            raise ValueError(f"`kind` must be 'ring' or 'grid', got {kind!r}.")
        if std is None:
            if default_std is None:
                raise ValueError("`std` is required with custom `means`.")
            std = default_std
        check_scalar("std", std, low=0, low_open=True)
        check_int("batch_size", batch_size)
        check_int("latent_size", latent_size)
        self.std = float(std)
        self.batch_size = batch_size
        self.latent_size = latent_size
        self.kind = kind

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    @property
    def data_size(self) -> int:
        """The dimension `d` of the data points."""
        return self.means.shape[1]

    def init_players(
        self,
        key: PRNGKeyArray,
        *,
        width=64,
        depth=2,
        activation: Callable = jnp.tanh,
        dtype=None,
    ) -> tuple[eqx.nn.MLP, eqx.nn.MLP]:
        """A generator and a discriminator for this game: `eqx.nn.MLP`s with `depth` hidden
        layers of `width` units, the generator from `latent_size` to the data dimension, the
        discriminator from the data dimension to a scalar logit.

        **Arguments:**

        - `key`: a JAX PRNG key for the initial weights.
        - `width`, `depth`: hidden-layer width and number of hidden layers (positive ints).
        - `activation`: the hidden layers' activation; `tanh` by default (on the 8-mode ring,
          ReLU networks of the same size collapsed to a few modes far more often).
        - `dtype`: floating dtype of the weights; JAX's default float if omitted.

        **Returns:** `(generator, discriminator)`, ready for [`minimax.solve`][].
        """
        check_int("width", width)
        check_int("depth", depth)
        key_g, key_d = jax.random.split(key)
        generator = eqx.nn.MLP(
            self.latent_size, self.data_size, width, depth, activation, key=key_g, dtype=dtype
        )
        discriminator = eqx.nn.MLP(
            self.data_size, "scalar", width, depth, activation, key=key_d, dtype=dtype
        )
        return generator, discriminator

    def minibatch(
        self, key: PRNGKeyArray, dtype=None
    ) -> tuple[Float[Array, "batch d"], Float[Array, "batch latent"]]:
        """The mini-batch that `losses` uses for `key`: `batch_size` data points and
        `batch_size` latent vectors `z ~ N(0, I)`."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        key_data, key_z = jax.random.split(key)
        z = jax.random.normal(key_z, (self.batch_size, self.latent_size), dtype)
        return self.sample_data(key_data, self.batch_size, dtype), z

    def sample_data(self, key: PRNGKeyArray, num_samples: int, dtype=None) -> Float[Array, "n d"]:
        """`num_samples` points drawn from the data distribution."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        key_c, key_n = jax.random.split(key)
        which = jax.random.randint(key_c, (num_samples,), 0, self.num_modes)
        noise = jax.random.normal(key_n, (num_samples, self.data_size), dtype)
        return self.means.astype(dtype)[which] + self.std * noise

    def sample(self, generator, key: PRNGKeyArray, num_samples: int) -> Float[Array, "n d"]:
        """`num_samples` points from `generator`, fed latent draws `z ~ N(0, I)`."""
        z = jax.random.normal(key, (num_samples, self.latent_size), float_dtype(generator))
        return self._generate(generator, z)

    def _generate(self, generator, z: Float[Array, "n latent"]) -> Float[Array, "n d"]:
        self._check_generator(generator)
        fake = jax.vmap(generator)(z)
        if fake.shape != (z.shape[0], self.data_size):
            raise ValueError(
                f"`players[0]` (the generator) must map a latent vector of shape "
                f"({self.latent_size},) to a point of shape ({self.data_size},) (the data "
                f"dimension), got an output of shape {fake.shape[1:]}."
            )
        return fake

    def _check_generator(self, generator) -> None:
        in_size = getattr(generator, "in_size", None)
        if isinstance(in_size, int) and in_size != self.latent_size:
            raise ValueError(
                f"`players[0]` (the generator) takes inputs of size {in_size} but the game's "
                f"`latent_size` is {self.latent_size}; build it with `game.init_players` or "
                f"`eqx.nn.MLP({self.latent_size}, {self.data_size}, ...)`."
            )

    def _logits(self, discriminator, points: Float[Array, "n d"]) -> Float[Array, " n"]:
        logits = jax.vmap(discriminator)(points)
        if logits.shape != points.shape[:1]:
            raise ValueError(
                "`players[1]` (the discriminator) must return a scalar logit for one point, got "
                f"an output of shape {logits.shape[1:]}; for an `eqx.nn.MLP` use "
                "`out_size='scalar'`."
            )
        return logits

    def losses(
        self, players: mx.Players, args: Any = None, key: PRNGKeyArray | None = None
    ) -> tuple[Scalar, Scalar]:
        if key is None:
            raise ValueError(
                "MixtureGAN is stochastic: pass `key` (to `minimax.solve`, or to the solver's "
                "`step`) so that each step draws a fresh mini-batch."
            )
        generator, discriminator = players
        real, z = self.minibatch(key, float_dtype(generator))
        fake = self._generate(generator, z)
        real_logits = self._logits(discriminator, real)
        fake_logits = self._logits(discriminator, fake)
        loss_d = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
        loss_g = jnp.mean(jax.nn.softplus(-fake_logits))
        return loss_g, loss_d

    def equilibrium(self, near: mx.Players | None = None):
        """Not in closed form: at the ideal equilibrium `G` reproduces the data and `D` is
        constant, but no finite network is known to reach it; measure runs with `metrics`."""
        raise NotImplementedError(
            "MixtureGAN has no closed-form equilibrium; measure a run with `metrics` and "
            "`discriminator_gap` instead."
        )

    def metrics(self, samples: Float[ArrayLike, "n d"], *, min_count=None) -> MixtureMetrics:
        """Mode coverage and sample quality of `samples` (e.g. from `sample`).

        Each sample is assigned to its nearest mode; it is *high quality* when it lies within
        `3 std` of that mode. A mode is *covered* when at least `min_count` high-quality samples
        land on it; by default a fifth of a fair share, `n / (5k)`, at least 1 (20 of 2500 samples
        on the 25-mode grid, the threshold of Lin et al. 2018, *PacGAN*).

        **Arguments:**

        - `samples`: an `(n, d)` array of points.
        - `min_count`: the number of high-quality samples a mode needs to count as covered.

        **Returns:** a [`games.MixtureMetrics`][].
        """
        samples = jnp.asarray(samples)
        if samples.ndim != 2 or samples.shape[1] != self.data_size:
            raise ValueError(
                f"`samples` must have shape (n, {self.data_size}) to match the data dimension, "
                f"got {samples.shape}."
            )
        n = samples.shape[0]
        if min_count is None:
            min_count = max(1, n // (5 * self.num_modes))
        check_int("min_count", min_count)
        means = self.means.astype(samples.dtype)
        dist = jnp.linalg.norm(samples[:, None, :] - means[None, :, :], axis=-1)
        nearest = jnp.argmin(dist, axis=1)
        good = jnp.min(dist, axis=1) <= 3 * self.std
        counts = jnp.zeros(self.num_modes, jnp.int32).at[nearest].add(good.astype(jnp.int32))
        return MixtureMetrics(
            modes_covered=jnp.sum(counts >= min_count),
            high_quality=jnp.mean(good.astype(samples.dtype)),
            counts=counts,
        )

    def discriminator_gap(self, players: mx.Players, key: PRNGKeyArray, num_samples=1024) -> Scalar:
        r"""$\mathbb{E}_x[\sigma(D(x))] - \mathbb{E}_z[\sigma(D(G(z)))]$: how much more the
        discriminator believes real data than generated data, in `[-1, 1]`.

        0 when `D` cannot tell them apart (as at the equilibrium), near 1 when it separates them
        perfectly. Recorded along a run (e.g. between chunks of [`minimax.solve`][]) it rises and
        falls when training cycles and settles as training converges.
        """
        generator, discriminator = players
        key_data, key_z = jax.random.split(key)
        fake = self.sample(generator, key_z, num_samples)
        real = self.sample_data(key_data, num_samples, fake.dtype)
        p_real = jax.nn.sigmoid(self._logits(discriminator, real))
        p_fake = jax.nn.sigmoid(self._logits(discriminator, fake))
        return jnp.mean(p_real) - jnp.mean(p_fake)
