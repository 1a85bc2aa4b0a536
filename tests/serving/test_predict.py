import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import predict
from serving.images import ImageError, convert_image, to_fashion_mnist
from tests.tiny_run import tiny_run

ROUND_TRIP_IMAGES = 60


@pytest.fixture(scope="module")
def run(tmp_path_factory, fashion_mnist):
    return tiny_run(tmp_path_factory, fashion_mnist)


@pytest.fixture(scope="module")
def checkpoint(run):
    return run.checkpoint_dir / "final.keras"


def object_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels above zero, inclusive."""
    rows, columns = np.nonzero(image)
    return rows.min(), rows.max(), columns.min(), columns.max()


def test_a_dark_object_on_white_is_inverted_cropped_and_keeps_its_aspect_ratio():
    photo = np.full((300, 400), 250.0)  # a 160 x 40 dark bar on an off-white background
    photo[60:220, 250:290] = 50.0

    image = to_fashion_mnist(photo)

    assert image.shape == (28, 28) and image.dtype == np.uint8
    top, bottom, left, right = object_box(image)
    assert (top, bottom) == (0, 27)  # the longest side fills the 28 pixels
    assert right - left + 1 == 7  # 40 / 160 * 28, centred
    assert left == 11  # centred: 11 columns of background before, 10 after
    # Inverted, the background (5) becomes black and the object (205) keeps its contrast.
    assert image[14, 14] == round(200 / 250 * 255)
    assert image[:, :left].max() == 0


def test_a_light_object_on_black_is_not_inverted(tmp_path):
    colour = np.zeros((90, 60, 3), dtype=np.uint8)  # a 50 x 20 light red bar on black, in RGB
    colour[20:70, 30:50] = (250, 180, 180)
    Image.fromarray(colour).save(tmp_path / "bar.png")

    image = convert_image(tmp_path / "bar.png")

    assert image.shape == (28, 28, 1) and image.dtype == np.uint8
    assert object_box(image[..., 0]) == (0, 27, 9, 19)  # 20 / 50 * 28 = 11 columns, centred
    assert image[14, 14, 0] > 150 and image[:, :9].max() == 0


def test_a_blank_image_holds_no_object():
    with pytest.raises(ImageError, match="no object"):
        to_fashion_mnist(np.full((50, 50), 255.0))


def test_inverted_test_images_at_their_own_size_convert_back_exactly(fashion_mnist):
    originals = fashion_mnist.x_test[:ROUND_TRIP_IMAGES, ..., 0]
    exact = [np.array_equal(to_fashion_mnist(255.0 - image), image) for image in originals]
    # The others have faint edge pixels, below the 5% tolerance, that cropping trims away.
    assert np.mean(exact) >= 0.8, np.mean(exact)


def test_enlarged_test_images_black_on_white_are_recovered_and_classified_alike(
    tmp_path, fashion_mnist, run
):
    originals = fashion_mnist.x_test[:ROUND_TRIP_IMAGES]
    for index, image in enumerate(originals):  # 4x larger, a dark object on white
        photo = Image.fromarray(255 - image[..., 0]).resize((112, 112), Image.Resampling.NEAREST)
        photo.save(tmp_path / f"{index:03d}.png")

    paths, converted, probabilities = predict.classify_files(run.model, [tmp_path])

    assert [path.name for path in paths] == [f"{i:03d}.png" for i in range(ROUND_TRIP_IMAGES)]
    assert converted.shape == originals.shape and converted.dtype == np.uint8
    difference = np.abs(converted.astype(float) - originals).mean(axis=(1, 2, 3))
    assert np.median(difference) < 1, difference  # gray levels out of 255
    on_originals = run.model.predict(originals, verbose=0).argmax(axis=1)
    agreement = np.mean(probabilities.argmax(axis=1) == on_originals)
    assert agreement >= 0.9, agreement


def test_the_command_prints_the_top_three_classes_and_draws_the_figure(
    tmp_path, capsys, fashion_mnist, checkpoint
):
    for index in range(2):
        Image.fromarray(fashion_mnist.x_test[index, ..., 0]).save(tmp_path / f"item{index}.jpg")
    figure = tmp_path / "out" / "predictions.png"

    assert (
        predict.main(
            [str(checkpoint), str(tmp_path / "item1.jpg"), str(tmp_path), "--show", str(figure)]
        )
        == 0
    )

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[-1] == f"wrote {figure}"
    assert [line.split(":")[0] for line in lines[:3]] == [
        str(tmp_path / name) for name in ("item1.jpg", "item0.jpg", "item1.jpg")
    ]
    for line in lines[:3]:
        ranked = line.split(": ", 1)[1].split(", ")
        probabilities = [float(entry.rsplit(" ", 1)[1].rstrip("%")) for entry in ranked]
        assert len(ranked) == 3 and probabilities == sorted(probabilities, reverse=True)
    with Image.open(figure) as drawn:
        assert drawn.format == "PNG" and drawn.height > drawn.width / 2


def write_bad_input(kind: str, folder, fashion_mnist) -> tuple[list[str], str]:
    """The arguments of a call with one bad input, and the path its error must name."""
    good = folder / "good.png"
    Image.fromarray(fashion_mnist.x_test[0, ..., 0]).save(good)
    bad = (
        folder
        / {
            "not an image": "notes.png",
            "corrupt image": "cut.png",
            "empty folder": "empty",
            "missing path": "absent.jpg",
            "5-class checkpoint": "five.keras",
            "image as checkpoint": "good.png",
        }[kind]
    )
    if kind == "not an image":
        bad.write_text("not pixels\n")
    elif kind == "corrupt image":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "empty folder":
        bad.mkdir()
        (bad / "readme.txt").write_text("no images here\n")
    elif kind == "5-class checkpoint":
        import keras

        inputs = keras.Input((28, 28, 1))
        outputs = keras.layers.Dense(5)(keras.layers.Flatten()(inputs))
        keras.Model(inputs, outputs).save(bad)
    if kind in ("5-class checkpoint", "image as checkpoint"):
        return [str(bad), str(good)], str(bad)
    return ["unused.keras", str(good), str(bad)], str(bad)


@pytest.mark.parametrize(
    "kind",
    [
        "not an image",
        "corrupt image",
        "empty folder",
        "missing path",
        "5-class checkpoint",
        "image as checkpoint",
    ],
)
def test_a_bad_input_is_named_in_one_line_with_exit_code_2(kind, tmp_path, capsys, fashion_mnist):
    argv, named = write_bad_input(kind, tmp_path, fashion_mnist)

    assert predict.main(argv) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"error: {named}")


@pytest.mark.parametrize(
    "show, error",
    [
        ("afile/pred.png", "--show must be a path under a folder: {afile} is a file, so {show} "
         "cannot be created. Choose another path. Received: --show {show}"),
        ("afile/deeper/pred.png", "--show must be a path under a folder: {afile} is a file"),
        ("folder", "--show must name a file to write, not a folder. Received: --show {show}"),
    ],
    ids=["under-a-file", "deeper-under-a-file", "a-folder"],
)
def test_a_show_path_that_cannot_be_written_is_refused_before_anything_is_predicted(
    tmp_path, capsys, show, error
):
    afile = tmp_path / "afile"
    afile.write_text("a file\n")
    (tmp_path / "folder").mkdir()
    square = np.zeros((40, 40), dtype=np.uint8)
    square[10:30, 10:30] = 200
    Image.fromarray(square).save(tmp_path / "item.png")
    show = tmp_path / show

    # The checkpoint is never loaded: the output is checked first.
    assert predict.main(["unused.keras", str(tmp_path / "item.png"), "--show", str(show)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("error: " + error.format(afile=afile, show=show))
    assert afile.read_text() == "a file\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile", "folder", "item.png"]


def test_the_script_exits_with_code_2_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "predict.py", "model.keras", str(tmp_path / "absent.png")],
        cwd=predict.__file__.rsplit("/", 1)[0],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'absent.png'}: no such file or folder.\n"
