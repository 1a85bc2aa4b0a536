import json

import pytest

from benchmarks import matmul_peak
from benchmarks.summary import matmul_peak_sentence


def test_the_matmul_peak_record_holds_both_dtypes_on_its_machine(tmp_path):
    assert matmul_peak.main(["--sizes", "64,128", "--repeats", "2", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("matmul-peak-*.json")  # named by its machine
    record = json.loads(path.read_text())
    assert "family" in path.name or "cores" in path.name
    assert record["command"] == "python -m benchmarks.matmul_peak --sizes 64,128 --repeats 2 " \
        f"--out {tmp_path}"
    assert set(record["dtypes"]) == {"float32", "bfloat16"}
    for result in record["dtypes"].values():
        assert set(result["gflops_by_size"]) == {"64", "128"}
        assert result["best_gflops"] == max(result["gflops_by_size"].values()) > 0
    assert record["load"]["own_cpu_seconds"] >= 0 and isinstance(record["load"]["alone"], bool)
    sentence = matmul_peak_sentence(tmp_path, tmp_path)
    assert "in float32" in sentence and "in bfloat16" in sentence
    assert f"[record]({path.name})" in sentence
    assert record["system"]["machine"]["key"] in sentence


@pytest.mark.parametrize("sizes", ["", "0,64", "a,b"])
def test_bad_sizes_are_refused_naming_the_flag(sizes, capsys, tmp_path):
    with pytest.raises(SystemExit):
        matmul_peak.main(["--sizes", sizes, "--out", str(tmp_path)])
    assert "argument --sizes: expected positive integers" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
