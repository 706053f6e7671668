from .alternating import Alternating as Alternating
from .averaging import (
    EMA as EMA,
    AbstractAveraging as AbstractAveraging,
    Averaging as Averaging,
    AveragingState as AveragingState,
)
from .base import (
    AbstractOptaxSolver as AbstractOptaxSolver,
    AbstractSolver as AbstractSolver,
    AbstractWrapper as AbstractWrapper,
    SolverState as SolverState,
    Step as Step,
)
from .cgd import ACGD as ACGD, CGD as CGD
from .consensus import ConsensusOptimization as ConsensusOptimization
from .extragradient import ExtraGradient as ExtraGradient
from .lookahead import Lookahead as Lookahead
from .past_extragradient import PastExtraGradient as PastExtraGradient
from .pdhg import (
    PDHG as PDHG,
    PDHGState as PDHGState,
    SaddleForm as SaddleForm,
    equilibrate as equilibrate,
)
from .restarted import Restarted as Restarted, RestartedState as RestartedState
from .sga import SGA as SGA
from .simultaneous import Simultaneous as Simultaneous
