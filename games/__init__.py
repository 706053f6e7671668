"""Games for minimax: each with its citation and, where one exists, its equilibrium."""

from .bilinear import Bilinear as Bilinear
from .digits import DigitsGAN as DigitsGAN, DigitsScore as DigitsScore
from .gan import (
    DiracGAN as DiracGAN,
    GaussianMeanWGAN as GaussianMeanWGAN,
    MixtureGAN as MixtureGAN,
    MixtureMetrics as MixtureMetrics,
)
from .lagrangian import (
    AbstractLagrangian as AbstractLagrangian,
    Lagrangian as Lagrangian,
    ProxyLagrangian as ProxyLagrangian,
)
from .lp import LinearProgram as LinearProgram
from .matrix import BimatrixGame as BimatrixGame, MatrixGame as MatrixGame
from .quadratic import QuadraticSaddle as QuadraticSaddle, matrix_games as matrix_games
