from .base import AbstractSolver as AbstractSolver
from .simultaneous import Simultaneous as Simultaneous, SimultaneousState as SimultaneousState
