"""Any photo or drawing to a Fashion-MNIST image: a light object on black, 28x28 grayscale.

Fashion-MNIST was made from product photos on white backgrounds (Xiao et al. 2017,
arXiv:1708.07747, section 2): edges within 5% of the corner colour trimmed, the longest side
resized to 28, the shortest extended to 28 with the object centred, the intensities negated, 8-bit
grayscale. `to_fashion_mnist` does the same for an image of any size, colour and background.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SIDE = 28
# Pixels this far above the background belong to the object (the paper's 5% trimming tolerance).
OBJECT_THRESHOLD = 0.05 * 255
MAX_SIDE = 1024  # larger images are shrunk by an integer factor on reading
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageError(ValueError):
    """An input that is missing, not a readable image, or holds no object; the message names it."""


def find_images(inputs) -> list[Path]:
    """The image files named by `inputs`: files as given, folders expanded to the images they
    hold (by suffix, sorted, hidden files left out).

    Raises:
        ImageError: an input does not exist, or a folder holds no image.
    """
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                path
                for path in item.iterdir()
                if path.is_file()
                and path.suffix.lower() in IMAGE_SUFFIXES
                and not path.name.startswith(".")
            )
            if not found:
                raise ImageError(
                    f"{item}: the folder holds no image ({', '.join(IMAGE_SUFFIXES)})."
                )
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise ImageError(f"{item}: no such file or folder.")
    return files


def read_grayscale(path: Path) -> np.ndarray:
    """The image at `path` as an (H, W) float32 array of gray levels in [0, 255].

    The EXIF orientation is applied, and transparent pixels are shown on white, the background
    Fashion-MNIST's photos had.

    Raises:
        ImageError: the file is not an image Pillow can read, or is truncated or corrupt.
    """
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
            # Averaging blocks of pixels first changes nothing a 28x28 result can show, and makes
            # a 12-megapixel photo quick to convert.
            image = image.reduce(max(1, max(image.size) // MAX_SIDE))
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            return np.asarray(image.convert("L"), dtype=np.float32)
    except UnidentifiedImageError as error:
        raise ImageError(f"{path}: not an image (Pillow cannot identify it).") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(f"{path}: the image is corrupt or truncated ({error}).") from error


def border_pixels(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring, 5% of the shorter side wide (at least one pixel)."""
    height, width = gray.shape
    ring = max(1, round(0.05 * min(height, width)))
    inner = np.zeros_like(gray, dtype=bool)
    inner[ring : height - ring, ring : width - ring] = True
    return gray[~inner]


def border_is_brighter(gray: np.ndarray) -> bool:
    """Whether the background, the median of the border, is brighter than the central half of
    the image on average: a dark object on a light background, which must be inverted. The median
    ignores the parts of the object that touch the border."""
    height, width = gray.shape
    middle = gray[height // 4 : height - height // 4, width // 4 : width - width // 4]
    return np.median(border_pixels(gray)) > middle.mean()


def to_fashion_mnist(gray: np.ndarray) -> np.ndarray:
    """An (H, W) grayscale image as a (28, 28) uint8 Fashion-MNIST image.

    Inverted when its border is brighter than its middle; the background (the median border
    level) mapped to black; cropped to the object's bounding box; resized so its longest side is
    28 pixels, keeping the aspect ratio; centred on a black 28x28 canvas.

    Raises:
        ValueError: `gray` is not a 2-D image.
        ImageError: nothing stands out from the background.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ValueError(f"gray must be an (H, W) image. Received: shape={gray.shape}")
    if border_is_brighter(gray):
        gray = 255.0 - gray
    background = float(np.median(border_pixels(gray)))
    gray = np.clip((gray - background) * 255.0 / max(255.0 - background, 1.0), 0.0, 255.0)
    rows, columns = np.nonzero(gray > OBJECT_THRESHOLD)
    if rows.size == 0:
        raise ImageError("no object stands out from the background (the image is blank).")
    crop = gray[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    height, width = crop.shape
    scale = SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Shrinking averages each output pixel's area; enlarging a small crop interpolates smoothly.
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize(size, resample))
    canvas = np.zeros((SIDE, SIDE), dtype=np.float32)
    # An odd margin puts its extra pixel before the object, as Fashion-MNIST's images have it.
    top, left = (SIDE - size[1] + 1) // 2, (SIDE - size[0] + 1) // 2
    canvas[top : top + size[1], left : left + size[0]] = resized
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def convert_image(path: Path) -> np.ndarray:
    """The image file at `path` as a (28, 28, 1) uint8 Fashion-MNIST image.

    Raises:
        ImageError: the file is not a readable image, or holds no object; the message names it.
    """
    gray = read_grayscale(path)
    try:
        return to_fashion_mnist(gray)[..., np.newaxis]
    except ImageError as error:
        raise ImageError(f"{path}: {error}") from error
