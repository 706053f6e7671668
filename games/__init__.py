"""Games for minimax: each with its citation and, where one exists, its equilibrium."""

from .bilinear import Bilinear as Bilinear
from .quadratic import QuadraticSaddle as QuadraticSaddle
