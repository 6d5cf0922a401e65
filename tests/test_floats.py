"""The one non-finite float codec (raysha/floats.py)."""

import json
import math
from enum import Enum

import numpy as np

from raysha.floats import decode_float, encode_float, json_default


def test_round_trip_through_strict_json():
    values = [0.0, -1.5, 3, 1e308, math.inf, -math.inf]
    text = json.dumps([encode_float(v) for v in values], allow_nan=False)
    assert [decode_float(v) for v in json.loads(text)] == values
    nan = decode_float(json.loads(json.dumps(encode_float(math.nan))))
    assert math.isnan(nan)


def test_reads_what_older_journals_wrote():
    # repr strings for every value (old sync state) and bare Infinity (old json.dumps of inf)
    assert decode_float("0.1") == 0.1 and decode_float("inf") == math.inf and decode_float("-inf") == -math.inf
    assert decode_float(json.loads("Infinity")) == math.inf
    assert type(decode_float(3)) is int and type(decode_float(2.5)) is float


def test_json_default():
    class Color(Enum):
        RED = "red"

    class Point:
        def to_json(self):
            return {"x": 1}

    text = json.dumps([np.float32(0.5), np.float64("-inf"), np.int64(7), Color.RED, Point(), object],
                      default=json_default, allow_nan=True)
    out = json.loads(text)
    assert out[:5] == [0.5, -math.inf, 7, "red", {"x": 1}] and out[5].startswith("<class")
    assert json.loads(json.dumps(np.float32("nan"), default=json_default)) == "nan"
