"""Games for minimax: each with its citation and, where one exists, its equilibrium."""

from .bilinear import Bilinear as Bilinear
from .gan import (
    DiracGAN as DiracGAN,
    GaussianMeanWGAN as GaussianMeanWGAN,
    MixtureGAN as MixtureGAN,
    MixtureMetrics as MixtureMetrics,
)
from .lagrangian import Lagrangian as Lagrangian
from .lp import LinearProgram as LinearProgram
from .matrix import BimatrixGame as BimatrixGame, MatrixGame as MatrixGame
from .quadratic import QuadraticSaddle as QuadraticSaddle, matrix_games as matrix_games
