import numpy as np

from evaluation.plots import confusion_figure, figure_to_png, reconstruction_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_reconstruction_figure_puts_inputs_above_decoded_images():
    images = np.zeros((4, 28, 28, 1), dtype=np.uint8)
    decoded = np.ones((4, 28, 28, 1), dtype=np.float32)  # in [0, 1]: drawn as white
    figure = reconstruction_figure(images, decoded)
    axes = figure.axes
    assert len(axes) == 8
    assert [axis.get_title() for axis in axes] == ["input"] * 4 + ["decoded"] * 4
    assert axes[0].images[0].get_array().max() == 0
    assert axes[4].images[0].get_array().min() == 255
    assert figure_to_png(figure).startswith(PNG_SIGNATURE)


def test_figures_render_to_identical_bytes_twice():
    confusion = np.arange(100).reshape(10, 10)
    names = [str(i) for i in range(10)]
    first = figure_to_png(confusion_figure(confusion, names))
    assert first == figure_to_png(confusion_figure(confusion, names))
    assert b"Software" not in first
