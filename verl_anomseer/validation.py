"""Parameter checks shared by the numeric code and the config readers: one rule, one message each.

``error`` lets a caller raise its own error type (a config error names the config key in ``name``).
"""

from __future__ import annotations

import math
import numbers


def check_positive(name: str, value: object, error: type[Exception] = ValueError, allow_inf: bool = False) -> float:
    """``value`` as a float; raises ``error`` unless it is a real number > 0 (a bool is not a number), finite
    unless ``allow_inf`` (a threshold that ``inf`` switches off)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0
    if not (ok and (allow_inf or math.isfinite(value))):
        rule = "> 0 or inf" if allow_inf else "a finite number > 0"
        raise error(f"{name} must be {rule}, got {value!r}")
    return float(value)


def check_positive_int(name: str, value: object, error: type[Exception] = ValueError) -> int:
    """``value`` as an int; raises ``error`` unless it is an integer >= 1 (a bool is not an integer)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise error(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)
