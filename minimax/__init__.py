"""minimax: two-player min-max games in JAX."""

from . import checks as checks, gan as gan, plot as plot
from ._analysis import LinearisedRate as LinearisedRate, linearised_rate as linearised_rate
from ._checkpoint import (
    CheckpointError as CheckpointError,
    load_checkpoint as load_checkpoint,
    save_checkpoint as save_checkpoint,
)
from ._game import (
    AbstractGame as AbstractGame,
    AbstractGeneralSumGame as AbstractGeneralSumGame,
    AbstractZeroSumGame as AbstractZeroSumGame,
    GeneralSumGame as GeneralSumGame,
    Players as Players,
    ZeroSumGame as ZeroSumGame,
    split_players as split_players,
)
from ._metrics import (
    Cycling as Cycling,
    cycling as cycling,
    distance as distance,
    hamiltonian as hamiltonian,
)
from ._optimistic import (
    OptimisticState as OptimisticState,
    optimistic_adam as optimistic_adam,
    optimistic_gradient as optimistic_gradient,
    optimistic_multiplicative_weights as optimistic_multiplicative_weights,
    scale_by_optimistic as scale_by_optimistic,
)
from ._parallel import DataParallel as DataParallel
from ._progress import (
    AbstractProgressMeter as AbstractProgressMeter,
    NoProgressMeter as NoProgressMeter,
    ProgressMeter as ProgressMeter,
)
from ._results import RESULTS as RESULTS
from ._solve import Solution as Solution, solve as solve
from ._solver import (
    ACGD as ACGD,
    CGD as CGD,
    EMA as EMA,
    PDHG as PDHG,
    SGA as SGA,
    AbstractAveraging as AbstractAveraging,
    AbstractOptaxSolver as AbstractOptaxSolver,
    AbstractSolver as AbstractSolver,
    AbstractWrapper as AbstractWrapper,
    Alternating as Alternating,
    Averaging as Averaging,
    ConsensusOptimization as ConsensusOptimization,
    ExtraGradient as ExtraGradient,
    Lookahead as Lookahead,
    PastExtraGradient as PastExtraGradient,
    PDHGState as PDHGState,
    Restarted as Restarted,
    RestartedState as RestartedState,
    SaddleForm as SaddleForm,
    Simultaneous as Simultaneous,
    SolverState as SolverState,
    Step as Step,
    equilibrate as equilibrate,
)
from ._state import RunState as RunState

__version__ = "0.1.0"
