import numpy as np
import pytest

from training.schedules import CyclicalLearningRate, SWALearningRate


def lr_at(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_triangular_hits_base_and_max_at_the_right_steps():
    schedule = CyclicalLearningRate(0.001, 0.006, step_size=10, mode="triangular")
    np.testing.assert_allclose(
        lr_at(schedule, [0, 5, 10, 15, 20, 30, 40]),
        [0.001, 0.0035, 0.006, 0.0035, 0.001, 0.006, 0.001],
        rtol=1e-5,
    )


def test_triangular2_halves_the_amplitude_every_cycle():
    schedule = CyclicalLearningRate(0.001, 0.009, step_size=10, mode="triangular2")
    np.testing.assert_allclose(
        lr_at(schedule, [10, 20, 30, 50]), [0.009, 0.001, 0.005, 0.003], rtol=1e-5
    )


def test_exp_range_scales_the_amplitude_by_gamma_power_step():
    schedule = CyclicalLearningRate(0.001, 0.002, step_size=10, mode="exp_range", gamma=0.99)
    np.testing.assert_allclose(
        lr_at(schedule, [10, 30]), [0.001 + 0.001 * 0.99**10, 0.001 + 0.001 * 0.99**30], rtol=1e-5
    )


def test_schedules_validate_and_serialize():
    with pytest.raises(ValueError, match="Received: mode='sine'"):
        CyclicalLearningRate(0.001, 0.006, 10, mode="sine")
    with pytest.raises(ValueError, match="Received: base_lr=0.01, max_lr=0.001"):
        CyclicalLearningRate(0.01, 0.001, 10)
    schedule = CyclicalLearningRate(0.001, 0.006, 10, mode="triangular2")
    clone = CyclicalLearningRate.from_config(schedule.get_config())
    np.testing.assert_allclose(lr_at(clone, range(50)), lr_at(schedule, range(50)))


def test_swa_schedule_holds_decays_then_holds():
    schedule = SWALearningRate(initial_lr=0.1, swa_lr=0.01, swa_start_step=100)
    np.testing.assert_allclose(
        lr_at(schedule, [0, 50, 75, 100, 500]), [0.1, 0.1, 0.055, 0.01, 0.01], rtol=1e-5
    )
