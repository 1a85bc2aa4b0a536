"""A larger learning rate for biases and BatchNorm offsets and scales than for the kernels."""

import keras


def scale_bias_learning_rate(
    optimizer: keras.optimizers.Optimizer, factor: float
) -> keras.optimizers.Optimizer:
    """Makes `optimizer` update every vector variable (biases, BatchNorm's beta and gamma) with
    its learning rate times `factor`; kernels keep the learning rate. Returns `optimizer`.

    airbench (Jordan 2024, arXiv:2404.00498) trains its BatchNorm offsets with 64 times the
    learning rate of its SGD in a parameter group of their own. Keras optimizers have no
    parameter groups, so the optimizer's `update_step` is wrapped on the instance, as
    `augment_in_train_step` wraps a model's `train_step`: it receives each variable with the
    step's learning rate and passes the scaled rate on for 1-D variables. Scaling the gradients
    instead would match for SGD only (Adam and RMSprop divide the gradient's scale out). Decoupled
    weight decay, applied outside `update_step` with the unscaled rate, is unchanged, as in
    airbench. The wrapper lives on the instance: `build_optimizer` applies it again to the
    optimizer of a resumed run; a saved model's optimizer config does not record it.

    Args:
        optimizer: a Keras optimizer whose `update_step(gradient, variable, learning_rate)` does
            the per-variable update (every optimizer Keras ships).
        factor: the multiple of the learning rate for vector variables, > 0.

    Example:
        >>> optimizer = scale_bias_learning_rate(keras.optimizers.SGD(0.1), 64.0)
    """
    if not factor > 0:
        raise ValueError(f"factor must be > 0. Received: factor={factor}")
    update_step = optimizer.update_step

    def scaled_update_step(gradient, variable, learning_rate):
        if len(variable.shape) == 1:
            learning_rate = learning_rate * factor
        return update_step(gradient, variable, learning_rate)

    optimizer.update_step = scaled_update_step
    return optimizer
