"""What a run, or one step of a solver, reports."""

import lineax as lx


class RESULTS(lx.RESULTS):
    """Why a run ended, or what a step reports. lineax's results (a linear solve inside a step
    that did not converge: `max_steps_reached`, `breakdown`, `stagnation`, ...) are members too,
    promoted with `RESULTS.promote`.

    - `successful`: the run took all its steps, or stopped because it was done (a solver's
      tolerance was met, or `stop` held).
    - `nonfinite`: a step produced NaN or inf; the run stopped at the last finite point.
    - `nonfinite_start`: the starting players (or the state resumed from) hold NaN or inf; no
      step was taken.
    - `linear_solve_failed`: a solver's linear solve did not converge; the run stopped before
      the step that would have used it.
    - `tolerance_not_reached`: a solver with a tolerance took all its steps without meeting it.
    - `primal_infeasible`, `dual_infeasible`: a linear program has no feasible point, or is
      unbounded; the solver's state holds the certificate.
    """

    nonfinite = (
        "A step produced non-finite values (NaN or inf); the run stopped at the last finite "
        "players and solver state. Lower the learning rate or check the game's losses."
    )
    nonfinite_start = (
        "The starting players, or the state made from them or resumed from (e.g. a merit or a "
        "field computed from the game's data), hold NaN or inf; no step was taken."
    )
    linear_solve_failed = (
        "A linear solve inside the solver's step did not converge; the run stopped at the last "
        "point before it. Loosen the solver's tolerance, raise its iteration limit, or lower "
        "the learning rate."
    )
    tolerance_not_reached = (
        "The run took all its steps without meeting the solver's tolerance; its players are the "
        "last iterate. Give it more `steps`, or resume it from `sol.state`."
    )
    primal_infeasible = (
        "The problem is primal infeasible: the solver found a certificate (a ray of the dual) "
        "that no point satisfies the constraints."
    )
    dual_infeasible = (
        "The problem is dual infeasible (the primal is unbounded or infeasible): the solver "
        "found a certificate, a primal ray along which the objective decreases for ever."
    )
