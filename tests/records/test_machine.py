"""The machine a record names, the load it measures and the peak it caches."""

import json
import os

import pytest

from records import machine

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16
"""
ZEN5 = ZEN4.replace("cpu family\t: 25", "cpu family\t: 26").replace("model\t\t: 17", "model\t\t: 2")
AVX2_ONLY = ZEN4.replace(" avx512f avx512_bf16", "")


def stat(user, system, idle, steal=0, cpus=2):
    """A /proc/stat text with the aggregate line and `cpus` per-CPU lines."""
    lines = [f"cpu  {user} 0 {system} {idle} 0 0 0 {steal} 0 0"]
    lines += [f"cpu{index} 0 0 0 0 0 0 0 0 0 0" for index in range(cpus)]
    return "\n".join([*lines, "intr 0", "ctxt 0"])


def test_cpu_facts_name_the_family_model_and_bfloat16_instructions():
    facts = machine.cpu_facts(ZEN4, cores=2)
    assert (facts["family"], facts["model"], facts["vendor"]) == (25, 17, "AuthenticAMD")
    assert facts["flags"] == ["avx2", "avx512f", "avx512_bf16"]
    assert facts["key"] == "AMD EPYC family 25 model 17, 2 cores, avx512_bf16"


def test_two_generations_of_one_name_are_two_machines():
    keys = {machine.cpu_facts(text, cores=2)["key"] for text in (ZEN4, ZEN5, AVX2_ONLY)}
    assert len(keys) == 3
    assert machine.cpu_facts(ZEN4, cores=4)["key"] != machine.cpu_facts(ZEN4, cores=2)["key"]


def test_cpu_facts_of_an_unreadable_cpuinfo_still_name_a_machine():
    facts = machine.cpu_facts("", cores=1)
    assert facts["family"] is None and facts["flags"] == []
    assert facts["key"].endswith("1 cores")


def test_the_load_of_other_processes_excludes_this_process(monkeypatch):
    hertz = os.sysconf("SC_CLK_TCK")
    start = machine.read_cpu_times(stat(0, 0, 0))
    end = machine.read_cpu_times(stat(8 * hertz, 2 * hertz, 10 * hertz, steal=hertz))
    # 10 s of wall time on 2 CPUs: 20 core-seconds; 10 busy, of which this process used 4.
    start = machine.CpuTimes(start.busy, start.steal, own=1.0, wall=100.0, cpus=2)
    end = machine.CpuTimes(end.busy, end.steal, own=5.0, wall=110.0, cpus=end.cpus)
    load = machine.load_between(start, end)
    assert end.cpus == 2
    assert load == {"other_share": 0.3, "steal_share": 0.05, "own_share": 0.2,
                    "own_cpu_seconds": 4.0}


def test_a_meter_reads_this_machine():
    with machine.LoadMeter() as meter:
        sum(index * index for index in range(200_000))  # some CPU time of our own
    assert meter.load is not None
    assert meter.load["own_cpu_seconds"] >= 0
    assert 0 <= meter.load["other_share"] <= 1


@pytest.mark.parametrize("others, alone", [
    ([0.0, 0.01, 0.05], True),
    ([0.0, 0.06], False),  # one epoch beside another process is enough
    ([], None),
])
def test_a_run_is_alone_only_when_every_epoch_was(others, alone):
    loads = [{"other_share": share, "steal_share": 0.0, "own_share": 0.9, "own_cpu_seconds": 1.0}
             for share in others]
    assert machine.is_alone(loads) is alone
    summary = machine.summarize_load(loads)
    if alone is None:
        assert summary is None
    else:
        assert summary["alone"] is alone
        assert summary["other_share_max"] == max(others)
        assert summary["epochs_measured"] == len(others)


def test_stolen_time_makes_a_run_shared():
    loads = [{"other_share": 0.0, "steal_share": 0.2, "own_share": 0.8, "own_cpu_seconds": 1.0}]
    assert machine.is_alone(loads) is False


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(machine, "_MEASURED_HERE", {})
    return tmp_path


def fake_measure(alone, calls):
    def measure():
        calls.append(1)
        return {"gflops": {"bfloat16": 400.0, "float32": 200.0}, "alone": alone}
    return measure


def test_a_quiet_measurement_is_cached_for_the_next_process(cache_home, monkeypatch):
    calls = []
    first = machine.measured_peak("machine A", fake_measure(True, calls))
    monkeypatch.setattr(machine, "_MEASURED_HERE", {})  # a new process
    second = machine.measured_peak("machine A", fake_measure(True, calls))
    assert len(calls) == 1
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["gflops"] == {"bfloat16": 400.0, "float32": 200.0}
    cached = json.loads(machine.peak_cache_path("machine A").read_text())
    assert cached["machine"] == "machine A"
    # Another kind of machine does not read it.
    machine.measured_peak("machine B", fake_measure(True, calls))
    assert len(calls) == 2


def test_a_measurement_under_load_is_not_cached(cache_home, monkeypatch):
    calls = []
    peak = machine.measured_peak("machine A", fake_measure(False, calls))
    assert peak["alone"] is False and not machine.peak_cache_path("machine A").exists()
    machine.measured_peak("machine A", fake_measure(False, calls))
    assert len(calls) == 1  # once per process
    monkeypatch.setattr(machine, "_MEASURED_HERE", {})
    machine.measured_peak("machine A", fake_measure(True, calls))
    assert len(calls) == 2 and machine.peak_cache_path("machine A").exists()


def test_a_broken_cache_is_measured_again(cache_home):
    path = machine.peak_cache_path("machine A")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    calls = []
    peak = machine.measured_peak("machine A", fake_measure(True, calls))
    assert calls and peak["cached"] is False
    assert json.loads(path.read_text())["gflops"]["bfloat16"] == 400.0


def test_the_real_peak_is_a_positive_rate_with_its_load():
    peak = machine.measure_peak(size=256, repeats=2)
    assert set(peak["gflops"]) == {"bfloat16", "float32"}
    assert all(rate > 0 for rate in peak["gflops"].values())
    assert peak["load"]["own_cpu_seconds"] >= 0


def test_share_of_peak_uses_the_same_machines_measured_rate():
    peak = {"gflops": {"bfloat16": 400.0, "float32": 200.0}}
    assert machine.share_of_peak(100.0, peak, "bfloat16") == 0.25
    assert machine.share_of_peak(100.0, peak, "float32") == 0.5
    assert machine.share_of_peak(100.0, None, "bfloat16") is None
