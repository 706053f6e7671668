"""Argument checks, named once. Each raises an error that names the argument and what was
expected. Values that are traced (under `jit`, `vmap` or `grad`) cannot be checked here and pass
through: optax's own optimizers accept them, and so do ours."""

import argparse
import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
    """Whether `value` is known now (a Python number or an array), not a tracer."""
    return not isinstance(value, jax.core.Tracer)


def check_int(name: str, value: Any, *, low: int = 1, high: int | None = None) -> int:
    """`value` as a Python int in `[low, high]` (NumPy and JAX integers included, bools
    refused)."""
    if isinstance(value, bool | np.bool_ | jax.core.Tracer):
        raise TypeError(f"`{name}` must be a Python or NumPy int, got {value!r}.")
    try:
        number = int(np.asarray(value).item()) if np.ndim(value) == 0 else None
    except (TypeError, ValueError):
        number = None
    if number is None or not np.issubdtype(np.asarray(value).dtype, np.integer):
        raise TypeError(f"`{name}` must be an int, got {value!r}.")
    if high is not None and not low <= number <= high:
        raise ValueError(f"`{name}` must be an int in [{low}, {high}], got {number}.")
    if number < low:
        bound = "a positive int" if low == 1 else f"an int >= {low}"
        raise ValueError(f"`{name}` must be {bound}, got {number}.")
    return number


def check_scalar(
    name: str,
    value: Any,
    *,
    low: float | int | None = None,
    high: float | int | None = None,
    low_open: bool = False,
    high_open: bool = False,
    schedule: bool = False,
) -> None:
    """A real scalar in `[low, high]` (ends open where asked), finite. Arrays of shape `()` and
    tracers are let through when their value is not known; `schedule=True` also lets a callable
    through (an optax schedule, checked only when it runs)."""
    if schedule and callable(value):
        return
    expected = "a float" + (" or an optax schedule" if schedule else "")
    if isinstance(value, str | bytes | bool | np.bool_) or value is None:
        raise TypeError(f"`{name}` must be {expected}, got {value!r}.")
    if isinstance(value, jax.core.Tracer):
        if value.shape != ():
            raise TypeError(
                f"`{name}` must be a scalar, got a traced array of shape {value.shape}."
            )
        return
    try:
        array = np.asarray(value)
    except Exception:
        raise TypeError(f"`{name}` must be {expected}, got {value!r}.") from None
    if array.shape != () or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise TypeError(f"`{name}` must be {expected}, got {value!r}.")
    number = float(array)
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite, got {number}.")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        bounds = _interval(low, high, low_open, high_open)
        raise ValueError(f"`{name}` must be {bounds}, got {number}.")


def _interval(low, high, low_open, high_open) -> str:
    if high is None and low == 0:
        return "positive" if low_open else "non-negative"
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"in {left}{lo}, {hi}{right}"


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")


def check_pair(name: str, value: Any, what: str, hint: str = "") -> tuple:
    """`value` as a tuple, if it is a pair (a tuple or list of two); `what` says what the pair
    holds, e.g. "`(x*, y*)`", and `hint` where to get one."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        got = type(value).__name__
        if isinstance(value, tuple | list):
            got += f" of length {len(value)}"
        raise TypeError(f"`{name}` must be a pair {what}{hint}, got {got}.")
    return tuple(value)


def check_callable(name: str, value: Any) -> Callable:
    if not callable(value):
        raise TypeError(f"`{name}` must be callable, got {type(value).__name__}.")
    return value


def check_optimizer(name: str, value: Any) -> None:
    """An optax `GradientTransformation` (anything with `init` and `update`), with a hint for the
    usual slips: a factory not called (`optax.sgd`), or a solver where an optimizer belongs."""
    if callable(getattr(value, "init", None)) and callable(getattr(value, "update", None)):
        return
    if callable(getattr(value, "step", None)):
        raise TypeError(
            f"`{name}` must be an optax GradientTransformation, got the solver "
            f"{type(value).__name__}; pass an optimizer such as `minimax.optimistic_gradient(0.1)`."
        )
    if callable(value):
        what = getattr(value, "__name__", type(value).__name__)
        raise TypeError(
            f"`{name}` must be an optax GradientTransformation, got the function {what}: call it "
            f"to build the optimizer, e.g. `{what}(learning_rate)`."
        )
    raise TypeError(f"`{name}` must be an optax GradientTransformation, got {value!r}.")


def arg_type(convert: Callable[[str], Any], check: Callable[..., Any], **bounds: Any) -> Callable:
    """An argparse `type=` built on a check above: `convert` the option's text (`int` or
    `float`), then `check(name, value, **bounds)`. A failure is a usage error (exit 2) that names
    the option: `argument --lr: must be finite, got inf.`

    ```python
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("--tol", type=arg_type(float, check_scalar, low=0, low_open=True))
    >>> parser.parse_args(["--tol", "1e-3"]).tol
    0.001

    ```
    """

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            kind = "an int" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}.") from None
        try:
            checked = check("value", value, **bounds)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("`value` ")) from None
        return value if checked is None else checked

    parse.__name__ = getattr(convert, "__name__", "value")  # argparse's name for the type
    return parse


def check_solver(name: str, value: Any) -> None:
    """A minimax solver (anything with `init`, `step` and `answer`), with a hint when an optax
    optimizer is given instead."""
    if all(callable(getattr(value, method, None)) for method in ("init", "step", "answer")):
        return
    if callable(getattr(value, "init", None)) and callable(getattr(value, "update", None)):
        raise TypeError(
            f"`{name}` must be a minimax solver, got an optax GradientTransformation; wrap it in "
            "one, e.g. `minimax.Simultaneous(optimizer)`."
        )
    raise TypeError(f"`{name}` must be a minimax solver (an AbstractSolver), got {value!r}.")


def static_int(value: Any) -> Any:
    """A NumPy or concrete JAX integer scalar as a Python int, for a static field; anything else
    unchanged, for `__check_init__` to judge."""
    if isinstance(value, np.integer) or (
        isinstance(value, jax.Array)
        and not isinstance(value, jax.core.Tracer)
        and value.shape == ()
        and np.issubdtype(value.dtype, np.integer)
    ):
        return int(value)
    return value
