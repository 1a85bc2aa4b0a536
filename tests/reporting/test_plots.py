import numpy as np

from reporting.plots import confusion_figure, figure_to_png, reconstruction_figure

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


def test_the_most_confident_mistakes_come_first_with_their_labels():
    from reporting.plots import mistakes_figure, most_confident_mistakes

    labels = np.array([0, 1, 2, 3, 4])
    probabilities = np.full((5, 10), 0.01)
    probabilities[[0, 1, 2, 3, 4], [0, 2, 3, 3, 5]] = [0.99, 0.6, 0.95, 0.9, 0.6]
    # Wrong: 1 (as 2, 0.6), 2 (as 3, 0.95), 4 (as 5, 0.6); the tie keeps the image order.
    assert most_confident_mistakes(probabilities, labels).tolist() == [2, 1, 4]
    assert most_confident_mistakes(probabilities, labels, count=1).tolist() == [2]

    names = [f"class {i}" for i in range(10)]
    images = np.arange(5)[:, None, None, None] * np.ones((5, 28, 28, 1), np.uint8)
    figure = mistakes_figure(images, probabilities, labels, names, "run")
    titled = [axis for axis in figure.axes if axis.get_title()]
    assert [axis.get_title() for axis in titled] == [
        "class 2\nas class 3 0.95", "class 1\nas class 2 0.60", "class 4\nas class 5 0.60"
    ]
    assert titled[0].images[0].get_array().max() == 2  # the image of test index 2
    assert figure_to_png(figure).startswith(PNG_SIGNATURE)


def test_per_class_figure_shows_each_runs_recall_per_class():
    from reporting.plots import per_class_figure

    good = np.diag([1000] * 10)
    worse = good.copy()
    worse[6, 6], worse[6, 0] = 750, 250
    figure = per_class_figure({"good": good, "worse": worse}, [str(i) for i in range(10)])
    cells = [text.get_text() for text in figure.axes[0].texts]
    assert cells[:10] == ["1.000"] * 10 and cells[16] == "0.750"
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == ["good", "worse"]
