"""Every JSON file the suite writes is standard JSON: NaN becomes null and an infinity is refused."""

import json
import math

import numpy as np
import pytest

from bench.core.files import JSONLog, atomic_write_json, update_json


def _strict(text):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_nan_is_written_as_null_everywhere(tmp_path):
    obj = {"value": float("nan"), "low": np.float32("nan"), "items": [1.5, np.float64("nan")], "n": np.int64(3)}
    atomic_write_json(tmp_path / "a.json", obj)
    update_json(tmp_path / "b.json", obj)
    with JSONLog(tmp_path / "rows.jsonl") as log:
        log.append_row({"method": "telea", "hole_psnr": float("nan"), "psnr": 31.5})
    expected = {"value": None, "low": None, "items": [1.5, None], "n": 3}
    assert _strict((tmp_path / "a.json").read_text()) == expected
    assert _strict((tmp_path / "b.json").read_text()) == expected
    row = _strict((tmp_path / "rows.jsonl").read_text().strip())
    assert row == {"method": "telea", "hole_psnr": None, "psnr": 31.5}
    assert not math.isnan(JSONLog(tmp_path / "rows.jsonl").rows()[0]["psnr"])


@pytest.mark.parametrize("bad", [float("inf"), -np.inf, np.float32("inf")])
def test_an_infinity_is_refused_and_nothing_is_written(tmp_path, bad):
    with pytest.raises(ValueError, match="no infinity"):
        atomic_write_json(tmp_path / "a.json", {"psnr": bad})
    assert not (tmp_path / "a.json").exists()
    with pytest.raises(ValueError, match="no infinity"), JSONLog(tmp_path / "rows.jsonl") as log:
        log.append_row({"psnr": bad})
    assert not (tmp_path / "rows.jsonl").exists() or (tmp_path / "rows.jsonl").read_text() == ""
