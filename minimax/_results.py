"""What a run, or one step of a solver, reports."""

import equinox as eqx


class RESULTS(eqx.Enumeration):
    """Why a run ended, or what a step reports.

    - `successful`: all steps were taken.
    - `nonfinite`: a step produced NaN or inf; the run stopped at the last finite point.
    - `nonfinite_start`: the starting players (or the state resumed from) hold NaN or inf; no
      step was taken.
    - `linear_solve_failed`: a solver's linear solve did not converge; the run stopped before
      the step that would have used it.
    - `primal_infeasible`, `dual_infeasible`: the solver proved the problem infeasible or
      unbounded (e.g. [`minimax.PDHG`][] on a linear program), with a certificate.
    - `tolerance_not_reached`: a solver with a tolerance took all its steps without meeting it.
    """

    successful = ""
    nonfinite = (
        "A step produced non-finite values (NaN or inf); the run stopped at the last finite "
        "players and solver state. Lower the learning rate or check the game's losses."
    )
    nonfinite_start = (
        "The starting players or the state resumed from hold NaN or inf; no step was taken."
    )
    linear_solve_failed = (
        "A linear solve inside the solver's step did not converge; the run stopped at the last "
        "point before it. Loosen the solver's tolerance, raise its iteration limit, or lower "
        "the learning rate."
    )
    primal_infeasible = (
        "The problem is primal infeasible: the solver found a certificate (a Farkas ray of the "
        "dual). See the solver's answer for the certificate."
    )
    dual_infeasible = (
        "The problem is dual infeasible (the primal is unbounded or infeasible): the solver "
        "found a ray along which the objective decreases without bound. See the solver's answer "
        "for the certificate."
    )
    tolerance_not_reached = (
        "The run took all its steps without meeting the solver's tolerance: the answer is not "
        "converged. Raise `steps`, or loosen the solver's tolerance."
    )
