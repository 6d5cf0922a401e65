"""The one codec for floats in JSON: finite numbers as they are, ``inf``/``-inf``/``nan`` as strings.

JSON has no infinity or NaN, and a loss is often infinite (a missing or NaN
metric counts as worst). Every journal and scheduler state writes such values
with `encode_float` and reads them back with `decode_float`; `json_default`
is the ``default=`` hook for ``json.dumps`` (numpy scalars, enums, objects
with ``to_json``).

>>> import json, math
>>> encode_float(0.25), encode_float(math.inf), encode_float(-math.inf), encode_float(math.nan)
(0.25, 'inf', '-inf', 'nan')
>>> decode_float("inf"), decode_float(0.25), decode_float("0.25"), decode_float(3)
(inf, 0.25, 0.25, 3)
>>> import numpy as np
>>> json.dumps({"loss": np.float32(0.5), "worst": np.float32("inf")}, default=json_default)
'{"loss": 0.5, "worst": "inf"}'
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Union


def encode_float(x: float) -> Union[float, str]:
    """`x` as JSON can hold it: a finite number unchanged, a non-finite one as its ``repr``."""
    return x if math.isfinite(x) else repr(x)


def decode_float(x: Union[float, int, str]) -> Union[float, int]:
    """What `encode_float` wrote, read back: a number unchanged, a string (``"inf"``, ``"0.5"``) parsed."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x
    return float(x)


def json_default(o: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars, enums and ``to_json`` objects.

    A numpy float that is not finite is written as `encode_float` writes it;
    anything else unknown is written as its ``str``.
    """
    if hasattr(o, "item") and callable(o.item):
        v = o.item()
        return encode_float(v) if isinstance(v, float) else v
    if isinstance(o, Enum):
        return o.value
    if hasattr(o, "to_json"):
        return o.to_json()
    return str(o)
