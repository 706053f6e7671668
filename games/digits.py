"""A real GAN: scikit-learn's 8x8 handwritten digits, scored by a classifier trained on held-out
digits (classes covered, their balance, and a Fréchet distance on its logits)."""

import functools
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, PyTree, Scalar

import minimax as mx
from minimax.checks import check_int, check_scalar, is_concrete

from ._common import float_dtype

_SIZE = 64  # 8 x 8 pixels
_CLASSES = 10
_COVERED = 0.02  # a class is covered by at least this fraction of the samples
_AXIS = "batch"  # the vmapped axis that BatchNorm takes its statistics over


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(train, train_labels, test, test_labels)`: the 1797 digits, pixels scaled from 0-16 to
    [0, 1], shuffled once (NumPy seed 0) and split into halves of 899 and 898."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "games.DigitsGAN needs scikit-learn (its digits are bundled with it, no download): "
            "`pip install scikit-learn`, or install minimax with the `data` extra."
        ) from None
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    images = (digits.data[order] / 16.0).astype(np.float32)
    labels = digits.target[order]
    half = (len(labels) + 1) // 2
    return images[:half], labels[:half], images[half:], labels[half:]


@functools.cache
def _classifier() -> eqx.nn.MLP:
    """The scoring classifier: an MLP 64-128-10 (ReLU) trained on the training half by 300
    full-batch steps of Adam(1e-2) on the cross-entropy plus `1e-3 * |weights|^2`, from a fixed
    key, in float32: the same weights on every run (CPU), computed once per process. The
    penalty keeps its logits on training and held-out digits alike (without it, it fits the
    training half perfectly and their logits grow apart, which the Fréchet distance sees)."""
    train, labels, _, _ = _digits()
    model = eqx.nn.MLP(_SIZE, _CLASSES, 128, 1, key=jax.random.key(0), dtype=jnp.float32)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optimizer = optax.adam(1e-2)
    x, y = jnp.asarray(train, jnp.float32), jnp.asarray(labels)

    def loss(params):
        logits = jax.vmap(eqx.combine(params, static))(x)
        fit = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return fit + 1e-3 * sum(jnp.sum(p**2) for p in jax.tree.leaves(params))

    @jax.jit
    def fit(params):
        def step(carry, _):
            params, opt_state = carry
            updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state)
            return (optax.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), length=300)[0][0]

    return eqx.combine(fit(params), static)


@eqx.filter_jit
def _logits(classifier: eqx.nn.MLP, samples: Float[Array, "n 64"]) -> Float[Array, "n 10"]:
    return jax.vmap(classifier)(samples)


def _gaussian(logits: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, np.float64)
    return logits.mean(axis=0), np.cov(logits, rowvar=False)


def _frechet(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    r"""$\|\mu_a - \mu_b\|^2 + \mathrm{tr}(S_a + S_b - 2 (S_a S_b)^{1/2})$, with
    $\mathrm{tr}(S_a S_b)^{1/2}$ the sum of the square roots of the eigenvalues of the symmetric
    $S_a^{1/2} S_b S_a^{1/2}$."""
    (mu_a, s_a), (mu_b, s_b) = a, b
    w, v = np.linalg.eigh(s_a)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    product = root @ s_b @ root
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * cross)


@functools.cache
def _reference() -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian fitted to the classifier's logits on the held-out half."""
    test = _digits()[2]
    return _gaussian(_logits(_classifier(), jnp.asarray(test, jnp.float32)))


class DigitsScore(NamedTuple):
    """How much a set of 8x8 digits looks like the held-out digits, to the scoring classifier.

    **Fields:**

    - `classes_covered`: the digits (0-9) that at least 2% of the samples are classified as.
    - `kl_uniform`: $\\sum_c p_c \\log(10 p_c)$, the KL divergence of the predicted classes'
      frequencies $p$ from uniform: 0 for balanced classes, $\\log 10 = 2.30$ for one class.
    - `frechet`: the Fréchet distance between Gaussians fitted to the classifier's logits on
      the samples and on the held-out digits (lower is better).
    - `class_fractions`: $p$, shape `(10,)`.
    """

    classes_covered: int
    kl_uniform: float
    frechet: float
    class_fractions: np.ndarray


class _BatchNormGenerator(eqx.Module):
    """An MLP generator with `eqx.nn.BatchNorm` after each hidden linear layer."""

    layers: tuple[eqx.nn.Linear, ...]
    norms: tuple[eqx.nn.BatchNorm, ...]

    def __init__(self, sizes, key, dtype):
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(
            eqx.nn.Linear(a, b, key=k, dtype=dtype)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )
        self.norms = tuple(
            eqx.nn.BatchNorm(size, _AXIS, mode="batch", dtype=dtype) for size in sizes[1:-1]
        )

    def __call__(self, z, state):
        for layer, norm in zip(self.layers[:-1], self.norms, strict=True):
            z, state = norm(layer(z), state)
            z = jax.nn.relu(z)
        return jax.nn.sigmoid(self.layers[-1](z)), state


class _SpectralNormDiscriminator(eqx.Module):
    """An MLP discriminator whose linear layers are wrapped in `eqx.nn.SpectralNorm`."""

    layers: tuple[eqx.nn.SpectralNorm, ...]

    def __init__(self, sizes, key, dtype):
        keys = jax.random.split(key, 2 * (len(sizes) - 1)).reshape(len(sizes) - 1, 2)
        self.layers = tuple(
            eqx.nn.SpectralNorm(eqx.nn.Linear(a, b, key=k[0], dtype=dtype), "weight", key=k[1])
            for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )

    def __call__(self, x, state):
        for layer in self.layers[:-1]:
            x, state = layer(x, state)
            x = jax.nn.leaky_relu(x, 0.2)
        x, state = self.layers[-1](x, state)
        return x[0], state


class DigitsGAN(mx.AbstractGeneralSumGame):
    r"""A GAN on scikit-learn's 8x8 handwritten digits (`sklearn.datasets.load_digits`, 1797
    images bundled with scikit-learn: no download; install `scikit-learn`, or minimax's `data`
    extra).

    The pixels are scaled from 0-16 to [0, 1], shuffled once and split into halves: the GAN
    trains on the first (899 digits, `data`), the scoring classifier (see `score`) is trained on
    the same half, and samples are compared with the second, held-out half (898 digits). The
    generator `G` (player 0) maps a latent $z \sim N(0, I_{16})$ to 64 pixels through a sigmoid
    (so its samples are in the data's range); the discriminator `D` (player 1) maps 64 pixels
    to a logit. They play the non-saturating GAN of Goodfellow et al. (2014) on a fresh
    mini-batch of `batch_size` digits (drawn with replacement) and latent draws at every step
    (so `key` is required), with the R1 penalty of Mescheder et al. (2018) on the real batch
    ([`minimax.gan.r1`][]):

    $$\ell_D = \mathbb{E}_x\big[\log(1 + e^{-D(x)})\big] +
    \mathbb{E}_z\big[\log(1 + e^{D(G(z))})\big] + \frac{\gamma}{2}\mathbb{E}_x
    \|\nabla_x D(x)\|^2, \qquad \ell_G = \mathbb{E}_z\big[\log(1 + e^{-D(G(z))})\big].$$

    `init_players` builds the networks: MLPs 16-128-128-64 (ReLU, sigmoid output) and
    64-128-128-1 (leaky ReLU 0.2). With `batch_norm=True` the generator has
    `eqx.nn.BatchNorm(mode="batch")` after each hidden layer, with `spectral_norm=True` the
    discriminator's layers are wrapped in `eqx.nn.SpectralNorm`. Their running statistics and
    power iterations are a *model state*, `(generator_state, discriminator_state)` from
    `init_model_state`, threaded through the losses and never trained:
    `losses(players, args, key, *, model_state)` returns `((loss_G, loss_D), new_model_state)`.

    There is no closed-form equilibrium; `score` measures samples and `baselines` gives the
    same numbers for real digits and for simple density models, so that a score means
    something.

    **Memorisation:** the score compares samples with held-out digits through a classifier;
    it cannot tell a generator that produces new digits from one that reproduces its 899
    training digits, and the training half itself is among the baselines: a generator that
    memorised it would score exactly that. Compare samples with their nearest training
    digits to check.

    **Arguments:**

    - `gamma`: the R1 weight $\gamma \ge 0$ (default 1; 0 or None: no penalty). May be a
      traced scalar.
    - `batch_size`: digits and latent draws per step (default 64).
    - `latent_size`: the size of `z` (default 16).
    - `batch_norm`, `spectral_norm`: the normalisations above (default False).

    **References:** Goodfellow et al. (2014), *Generative adversarial nets*, NeurIPS;
    Mescheder, Geiger, Nowozin (2018), *Which training methods for GANs do actually
    converge?*, ICML; Alpaydin, Kaynak (1998), *Optical recognition of handwritten digits*,
    UCI (the data).

    ```python
    >>> import jax, minimax as mx, optax, games
    >>> game = games.DigitsGAN()
    >>> players = game.init_players(jax.random.key(0))
    >>> solver = mx.Simultaneous(optax.adam(1e-3, b1=0.5, b2=0.99))
    >>> sol = mx.solve(game, solver, players, steps=10, key=jax.random.key(1), save_every=None)
    >>> score = game.score(game.sample(sol.players[0], jax.random.key(2), 1000))
    >>> print(score.class_fractions.shape, 0 <= score.classes_covered <= 10)
    (10,) True

    ```
    """

    data: Float[Array, "n 64"]
    gamma: Float[Array, ""] | None
    batch_size: int = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)
    batch_norm: bool = eqx.field(static=True)
    spectral_norm: bool = eqx.field(static=True)

    def __init__(
        self,
        gamma: Any = 1.0,
        *,
        batch_size=64,
        latent_size=16,
        batch_norm=False,
        spectral_norm=False,
    ):
        if gamma is not None:
            check_scalar("gamma", gamma, low=0)
        check_int("batch_size", batch_size)
        check_int("latent_size", latent_size)
        # A concrete 0 skips the penalty's work; a traced weight keeps it.
        off = gamma is None or (is_concrete(gamma) and float(gamma) == 0)
        self.gamma = None if off else jnp.asarray(gamma, jnp.result_type(float))
        self.data = jnp.asarray(_digits()[0])
        self.batch_size = batch_size
        self.latent_size = latent_size
        self.batch_norm = bool(batch_norm)
        self.spectral_norm = bool(spectral_norm)

    @property
    def stateful(self) -> bool:
        """Whether the players have a model state (BatchNorm or spectral normalisation)."""
        return self.batch_norm or self.spectral_norm

    def _build(self, key: PRNGKeyArray, width: int, depth: int, dtype) -> tuple:
        check_int("width", width)
        check_int("depth", depth)
        key_g, key_d = jax.random.split(key)
        g_sizes = (self.latent_size,) + (width,) * depth + (_SIZE,)
        d_sizes = (_SIZE,) + (width,) * depth + (1,)
        if self.batch_norm:
            G, g_state = eqx.nn.make_with_state(_BatchNormGenerator)(g_sizes, key_g, dtype)
        else:
            G, g_state = (
                eqx.nn.MLP(
                    self.latent_size,
                    _SIZE,
                    width,
                    depth,
                    jax.nn.relu,
                    jax.nn.sigmoid,
                    key=key_g,
                    dtype=dtype,
                ),
                eqx.nn.State(None),
            )
        if self.spectral_norm:
            D, d_state = eqx.nn.make_with_state(_SpectralNormDiscriminator)(d_sizes, key_d, dtype)
        else:
            activation = functools.partial(jax.nn.leaky_relu, negative_slope=0.2)
            D, d_state = (
                eqx.nn.MLP(_SIZE, "scalar", width, depth, activation, key=key_d, dtype=dtype),
                eqx.nn.State(None),
            )
        return (G, D), (g_state, d_state)

    def init_players(
        self, key: PRNGKeyArray, *, width=128, depth=2, dtype=None
    ) -> tuple[eqx.Module, eqx.Module]:
        """The generator and the discriminator (described above), with `depth` hidden layers
        of `width` units each, weights of `dtype` (JAX's default float if omitted)."""
        return self._build(key, width, depth, dtype)[0]

    def init_model_state(
        self, key: PRNGKeyArray, *, width=128, depth=2, dtype=None
    ) -> tuple[eqx.nn.State, eqx.nn.State] | None:
        """The model state of the players that `init_players` builds from the same arguments:
        `(generator_state, discriminator_state)`, or None without BatchNorm and spectral
        normalisation. (Equinox hands a stateful layer's initial state out once, when the
        network is built, so this builds the same networks again.)"""
        return self._build(key, width, depth, dtype)[1] if self.stateful else None

    def minibatch(
        self, key: PRNGKeyArray, dtype=None
    ) -> tuple[Float[Array, "batch 64"], Float[Array, "batch latent"]]:
        """The mini-batch that `losses` uses for `key`: `batch_size` training digits (drawn
        with replacement) and as many latent vectors `z ~ N(0, I)`."""
        dtype = jnp.result_type(float) if dtype is None else dtype
        key_data, key_z = jax.random.split(key)
        which = jax.random.randint(key_data, (self.batch_size,), 0, self.data.shape[0])
        z = jax.random.normal(key_z, (self.batch_size, self.latent_size), dtype)
        return self.data[which].astype(dtype), z

    def _check_state(self, model_state) -> None:
        if self.stateful and model_state is None:
            raise ValueError(
                "This DigitsGAN's networks have BatchNorm or spectral normalisation: pass "
                "`model_state=game.init_model_state(key)` (to `minimax.solve` or `losses`)."
            )
        if not self.stateful and model_state is not None:
            raise ValueError(
                "This DigitsGAN's networks have no model state (batch_norm and spectral_norm "
                "are off): pass no `model_state`."
            )

    def _generate(self, G, z, state):
        if not self.batch_norm:
            return jax.vmap(G)(z), state
        return jax.vmap(G, axis_name=_AXIS, in_axes=(0, None), out_axes=(0, None))(z, state)

    def _discriminate(self, D, x, state):
        if not self.spectral_norm:
            return jax.vmap(D)(x), state
        return jax.vmap(D, in_axes=(0, None), out_axes=(0, None))(x, state)

    def losses(
        self,
        players: mx.Players,
        args: Any = None,
        key: PRNGKeyArray | None = None,
        *,
        model_state: PyTree = None,
    ) -> tuple[Scalar, Scalar] | tuple[tuple[Scalar, Scalar], PyTree]:
        if key is None:
            raise ValueError(
                "DigitsGAN is stochastic: pass `key` (to `minimax.solve`, or to the solver's "
                "`step`) so that each step draws a fresh mini-batch."
            )
        self._check_state(model_state)
        G, D = players
        g_state, d_state = (None, None) if model_state is None else model_state
        real, z = self.minibatch(key, float_dtype(G))
        fake, g_state = self._generate(G, z, g_state)
        # Real and fake in one pass: a spectrally normalised D takes one power iteration.
        logits, d_state = self._discriminate(D, jnp.concatenate([real, fake]), d_state)
        real_logits, fake_logits = logits[: len(real)], logits[len(real) :]
        loss_d = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
        if self.gamma is not None:
            loss_d = loss_d + mx.gan.r1(
                D, real, self.gamma, state=d_state if self.spectral_norm else None
            )
        loss_g = jnp.mean(jax.nn.softplus(-fake_logits))
        if model_state is None:
            return loss_g, loss_d
        return (loss_g, loss_d), (g_state, d_state)

    def equilibrium(self, near: mx.Players | None = None):
        """Not in closed form: measure runs with `score` against `baselines`."""
        raise NotImplementedError(
            "DigitsGAN has no closed-form equilibrium; measure a run with `score` against "
            "`baselines()`."
        )

    def sample(
        self, generator, key: PRNGKeyArray, num_samples: int, model_state: PyTree = None
    ) -> Float[Array, "n 64"]:
        """`num_samples` digits from `generator` (64 pixels each, in [0, 1]). With BatchNorm,
        pass the model state (the pair `(generator_state, discriminator_state)`, as
        `minimax.solve` returns it): the generator runs in inference mode
        (`eqx.nn.inference_mode`), normalising with its running statistics."""
        self._check_state(model_state)
        z = jax.random.normal(key, (num_samples, self.latent_size), float_dtype(generator))
        if self.batch_norm:
            generator = eqx.nn.inference_mode(generator)
        return self._generate(generator, z, None if model_state is None else model_state[0])[0]

    def score(self, samples: Float[ArrayLike, "n d"]) -> DigitsScore:
        """Score `samples` (an `(n, 64)` array of pixels in [0, 1], e.g. from `sample`) with a
        classifier trained on the training half: the classes it sees in them, their balance,
        and the Fréchet distance of its logits to its logits on the held-out half. The
        classifier (an MLP 64-128-10 trained deterministically in JAX, 98% accurate on the
        held-out half) is trained once per process, on first use.

        **Returns:** a [`games.DigitsScore`][].
        """
        samples = np.asarray(samples, np.float32)
        if samples.ndim != 2 or samples.shape[1] != _SIZE or len(samples) < 2:
            raise ValueError(
                f"`samples` must have shape (n, {_SIZE}) with n >= 2 (8x8 images, flattened), "
                f"got {samples.shape}."
            )
        logits = np.asarray(_logits(_classifier(), jnp.asarray(samples)))
        fractions = np.bincount(logits.argmax(axis=1), minlength=_CLASSES) / len(samples)
        seen = fractions > 0
        return DigitsScore(
            classes_covered=int(np.sum(fractions >= _COVERED)),
            kl_uniform=float(np.sum(fractions[seen] * np.log(_CLASSES * fractions[seen]))),
            frechet=_frechet(_gaussian(logits), _reference()),
            class_fractions=fractions,
        )

    def baselines(self, num_samples: int = 1000, seed: int = 0) -> dict[str, DigitsScore]:
        """`score` for what a generator is measured against:

        - `"training digits"`: the 899 training digits themselves, what a generator that
          memorised them would score;
        - `"gaussian"`: `num_samples` draws from one Gaussian fitted to the training digits
          (mean and covariance), clipped to [0, 1];
        - `"mixture"`: `num_samples` draws from a mixture of 20 full-covariance Gaussians
          fitted to them (`sklearn.mixture.GaussianMixture`, `random_state=seed`), clipped.
        """
        from sklearn.mixture import GaussianMixture

        check_int("num_samples", num_samples, low=2)
        train = _digits()[0].astype(np.float64)
        rng = np.random.default_rng(seed)
        gaussian = rng.multivariate_normal(train.mean(0), np.cov(train, rowvar=False), num_samples)
        mixture = GaussianMixture(20, random_state=seed).fit(train).sample(num_samples)[0]
        return {
            "training digits": self.score(train),
            "gaussian": self.score(np.clip(gaussian, 0, 1)),
            "mixture": self.score(np.clip(mixture, 0, 1)),
        }
