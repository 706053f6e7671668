from .alternating import Alternating as Alternating
from .base import (
    AbstractOptaxSolver as AbstractOptaxSolver,
    AbstractSolver as AbstractSolver,
    SolverState as SolverState,
)
from .extragradient import ExtraGradient as ExtraGradient
from .simultaneous import Simultaneous as Simultaneous
