"""CIFAR-10 as uint8 arrays, from a local copy or from Keras' download.

Sources, in this order: an explicit path, the ``CIFAR10_DIR`` environment variable, then
``keras.datasets.cifar10.load_data()`` (downloads once into ``~/.keras``).

A local path may be the official ``cifar-10-python.tar.gz``, its unpacked
``cifar-10-batches-py/`` folder, or an image-folder tree ``<root>/{train,test}/<class>/*.jpg``.
Decoded arrays are cached (``CIFAR_CACHE_DIR``, else ``~/.cache/cifar-lab``) so that the next
load of the same source is a file read; the cache is rebuilt when the source changes.

Images stay uint8 (N, 32, 32, 3): 180 MB for all 60,000. Scaling to [0, 1] happens inside
the model, never as a float copy of the whole set (the tutorial's ``x / 255`` is 1.2 GB).
Arrays read from the cache start on a 64-byte boundary, so that the trainer can hand them to
TensorFlow without a second copy (``aligned``; cifar/train.py).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SPLITS = ("train", "test")
OFFICIAL_ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# Bumped whenever the cached layout or decoding changes, so old caches are not trusted.
_CACHE_VERSION = 1
# TensorFlow uses an array's memory in place only when it starts on this boundary (bytes).
ALIGNMENT = 64
_READ_CHUNK = 8 << 20  # read the cache in pieces: a whole-array read would hold a second copy

HOW_TO_GET_DATA = (
    "Download the CIFAR-10 python archive (cifar-10-python.tar.gz, 163 MB) from "
    f"{OFFICIAL_ARCHIVE_URL} and point CIFAR10_DIR at it (or at its unpacked "
    "cifar-10-batches-py folder, or at an image tree <root>/train/<class>/*.png and "
    "<root>/test/<class>/*.png), or pass --data PATH."
)


class DataError(RuntimeError):
    """The dataset could not be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class Dataset:
    """CIFAR-10 in memory: uint8 images, integer labels and the class names."""

    x_train: np.ndarray  # (N, 32, 32, 3) uint8
    y_train: np.ndarray  # (N,) uint8, class indices 0..9
    x_test: np.ndarray  # (M, 32, 32, 3) uint8
    y_test: np.ndarray  # (M,) uint8
    class_names: tuple[str, ...]
    source: str  # where it came from, in words

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_dataset(path: str | os.PathLike | None = None) -> Dataset:
    """Load CIFAR-10 from `path`, else `CIFAR10_DIR`, else Keras' download.

    Args:
        path: the official archive, its unpacked batches folder, or an image-folder tree.

    Returns:
        The dataset, uint8 throughout.

    Raises:
        DataError: the source is missing, malformed or unreachable; the message names the
            file and says what to do.
    """
    if path is None and os.environ.get("CIFAR10_DIR"):
        path = os.environ["CIFAR10_DIR"]
    if path is None:
        return _load_from_keras()
    source = Path(path).expanduser()
    if not source.exists():
        raise DataError(f"No CIFAR-10 data at {source}: the path does not exist. {HOW_TO_GET_DATA}")
    return _cached(source.resolve())


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` images with (as near as possible) equal numbers per class.

    Args:
        labels: class index of every image.
        size: how many indices to return; at most len(labels).
        seed: fixes which images are chosen.

    Returns:
        Sorted indices into `labels`.

    Raises:
        ValueError: `size` is below 1 or above the number of images.
    """
    labels = np.asarray(labels)
    if not 1 <= size <= len(labels):
        raise ValueError(f"subset size must be between 1 and {len(labels)}; got {size}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    # Round-robin over classes: equal shares, and a class that runs short leaves its
    # remainder to the others instead of shrinking the subset.
    quota = {int(c): 0 for c in classes}
    remaining = size
    while remaining:
        open_classes = [i for i, c in enumerate(classes) if quota[int(c)] < len(by_class[i])]
        share, extra = divmod(remaining, len(open_classes))
        for rank, i in enumerate(open_classes):
            c = int(classes[i])
            take = min(share + (rank < extra), len(by_class[i]) - quota[c])
            quota[c] += take
            remaining -= take
    chosen = np.concatenate([by_class[i][: quota[int(c)]] for i, c in enumerate(classes)])
    return np.sort(chosen)


# --- sources -------------------------------------------------------------------------


def _load_from_keras() -> Dataset:
    import keras  # imported here: a local source should not pay for TensorFlow

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # Keras raises a bare Exception("URL fetch failure ...")
        raise DataError(
            "CIFAR-10 is not on this machine and could not be downloaded "
            f"({type(error).__name__}: {str(error)[:200]}). {HOW_TO_GET_DATA}"
        ) from error
    return _checked(x_train, y_train.reshape(-1), x_test, y_test.reshape(-1), CLASS_NAMES, "Keras download")


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised C-ordered array whose data starts on an ALIGNMENT-byte boundary."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(size + ALIGNMENT, np.uint8)
    offset = (-buffer.ctypes.data) % ALIGNMENT
    return buffer[offset : offset + size].view(dtype).reshape(shape)


def aligned(array: np.ndarray) -> np.ndarray:
    """`array` itself when it is C-ordered, writeable and aligned; else an aligned copy."""
    if array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % ALIGNMENT == 0:
        return array
    copy = aligned_empty(array.shape, array.dtype)
    np.copyto(copy, array)
    return copy


def _read_npz_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One array of an uncompressed .npz, read in pieces straight into an aligned array."""
    with archive.open(f"{name}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if fortran or dtype.hasobject:
            raise ValueError("the cache holds an array in a layout it never writes")
        array = aligned_empty(shape, dtype)
        view = memoryview(array.reshape(-1).view(np.uint8))
        filled = 0
        while filled < len(view):
            got = handle.readinto(view[filled : filled + _READ_CHUNK])
            if not got:
                raise ValueError(f"the cached {name} is truncated")
            filled += got
        return array


def _cached(source: Path) -> Dataset:
    cache_file = _cache_dir() / f"{_source_key(source)}.npz"
    if cache_file.exists():
        try:
            with zipfile.ZipFile(cache_file) as stored:
                arrays = {name: _read_npz_member(stored, name) for name in ("x_train", "y_train", "x_test", "y_test")}
                names = tuple(str(n) for n in _read_npz_member(stored, "class_names"))
            return Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], names, str(source))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a damaged cache is rebuilt below
    dataset = _decode(source)
    _write_cache(cache_file, dataset)
    return dataset


def _decode(source: Path) -> Dataset:
    if source.is_file():
        if source.name.endswith((".tar.gz", ".tgz", ".tar")):
            return _load_archive(source)
        raise DataError(f"{source} is a file but not a .tar.gz archive. {HOW_TO_GET_DATA}")
    batches = _find_batches_dir(source)
    if batches is not None:
        return _load_batches(batches, str(source))
    tree = _find_tree_root(source)
    if tree is not None:
        return _load_tree(tree)
    raise DataError(
        f"{source} holds neither CIFAR-10 python batches (data_batch_1 ... test_batch) nor "
        f"an image tree with train/ and test/ folders. {HOW_TO_GET_DATA}"
    )


def _find_batches_dir(folder: Path) -> Path | None:
    for candidate in (folder, folder / "cifar-10-batches-py"):
        if (candidate / "data_batch_1").is_file() or (candidate / "test_batch").is_file():
            return candidate
    return None


def _find_tree_root(folder: Path) -> Path | None:
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    for candidate in candidates:
        if any((candidate / split).is_dir() for split in SPLITS):
            return candidate
    return None


def _load_archive(archive: Path) -> Dataset:
    with tempfile.TemporaryDirectory(prefix="cifar-archive-") as scratch:
        try:
            with tarfile.open(archive) as tar:
                members = [
                    m
                    for m in tar.getmembers()
                    if m.isfile() and Path(m.name).name.startswith(("data_batch_", "test_batch"))
                ]
                if not members:
                    raise DataError(
                        f"{archive} has no CIFAR-10 batches (data_batch_1 ... test_batch) inside. {HOW_TO_GET_DATA}"
                    )
                for member in members:
                    # Flat names only: a member path can never write outside the scratch folder.
                    member.name = Path(member.name).name
                    tar.extract(member, scratch, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"{archive} is not a readable tar.gz archive: {error}") from error
        return _load_batches(Path(scratch), str(archive))


def _load_batches(folder: Path, source: str) -> Dataset:
    from keras.src.datasets.cifar import load_batch  # Keras' reader, with a safe unpickler

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        file = folder / name
        if not file.is_file():
            raise DataError(f"{file} is missing: a CIFAR-10 batches folder needs data_batch_1 to 5 and test_batch.")
        try:
            data, labels = load_batch(str(file))
        except Exception as error:
            raise DataError(f"{file} is not a readable CIFAR-10 batch: {error}") from error
        return data.transpose(0, 2, 3, 1).astype(np.uint8), np.asarray(labels)

    train_files = sorted((p.name for p in folder.glob("data_batch_*")), key=lambda n: int(n.rsplit("_", 1)[1]))
    if not train_files:
        raise DataError(f"{folder} has no training batches (data_batch_1 ... data_batch_5).")
    train = [read(name) for name in train_files]
    x_test, y_test = read("test_batch")
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return _checked(x_train, y_train, x_test, y_test, CLASS_NAMES, source)


def _load_tree(root: Path) -> Dataset:
    missing = [split for split in SPLITS if not (root / split).is_dir()]
    if missing:
        raise DataError(
            f"{root} has no {' or '.join(missing)}/ folder: an image tree needs "
            f"{root}/train/<class>/ and {root}/test/<class>/."
        )
    class_names = _tree_classes(root)
    arrays = {split: _read_split(root / split, class_names) for split in SPLITS}
    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    return _checked(x_train, y_train, x_test, y_test, class_names, str(root))


def _tree_classes(root: Path) -> tuple[str, ...]:
    found = {split: sorted(p.name for p in (root / split).iterdir() if p.is_dir()) for split in SPLITS}
    if not found["train"]:
        raise DataError(f"{root / 'train'} has no class folders (expected e.g. train/cat/).")
    unknown = sorted(set(found["test"]) - set(found["train"]))
    if unknown:
        raise DataError(
            f"{root / 'test'} has class folder(s) {', '.join(unknown)} that train/ does not: "
            "both splits need the same classes."
        )
    names = found["train"]
    if set(names) <= set(CLASS_NAMES):
        # CIFAR-10's own label order, so that label 3 is a cat whatever the source.
        return tuple(n for n in CLASS_NAMES if n in names)
    stray = sorted(set(names) - set(CLASS_NAMES))
    if len(set(names) & set(CLASS_NAMES)) >= len(CLASS_NAMES) // 2:
        raise DataError(
            f"{root / 'train'} has unknown class folder(s) {', '.join(stray)} beside "
            f"CIFAR-10's classes; remove them or rename them to one of {', '.join(CLASS_NAMES)}."
        )
    return tuple(names)  # another labelled set: alphabetical order


def _read_split(folder: Path, class_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(class_names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        images = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += images
        labels += [index] * len(images)
    if not files:
        raise DataError(f"{folder} has no images ({', '.join(IMAGE_SUFFIXES)}).")
    # Serial on purpose: a 32×32 JPEG decodes in ~0.15 ms, mostly Python-side header work
    # under the GIL, so a thread pool measured 2.3× slower here (26 s against 11 s for 60,000).
    images = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
    for i, file in enumerate(files):
        images[i] = _read_image(file)
    return images, np.asarray(labels, dtype=np.uint8)


def _read_image(file: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            if image.size != (32, 32):
                raise DataError(f"{file} is {image.size[0]}×{image.size[1]} pixels; CIFAR-10 images are 32×32.")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{file} is not a readable image ({error}); remove or replace it.") from error


def _checked(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    class_names: tuple[str, ...],
    source: str,
) -> Dataset:
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise DataError(f"{source}: {split} images have shape {x.shape}; expected (N, 32, 32, 3).")
        if len(x) != len(y):
            raise DataError(f"{source}: {split} has {len(x)} images but {len(y)} labels.")
        y_int = np.asarray(y).astype(np.int64)
        bad = np.flatnonzero((y_int < 0) | (y_int >= len(class_names)))
        if bad.size:
            raise DataError(
                f"{source}: {split} label {y_int[bad[0]]} (image {bad[0]}) is out of range; "
                f"labels must be 0 to {len(class_names) - 1}."
            )
    return Dataset(
        np.ascontiguousarray(x_train, dtype=np.uint8),
        np.asarray(y_train, dtype=np.uint8),
        np.ascontiguousarray(x_test, dtype=np.uint8),
        np.asarray(y_test, dtype=np.uint8),
        tuple(class_names),
        source,
    )


# --- cache ---------------------------------------------------------------------------


def _cache_dir() -> Path:
    return Path(os.environ.get("CIFAR_CACHE_DIR") or Path.home() / ".cache" / "cifar-lab")


def _source_key(source: Path) -> str:
    """A digest of the source's path, and of every file's name, size and modification time."""
    digest = hashlib.sha256(f"v{_CACHE_VERSION}:{source}".encode())
    if source.is_file():
        stat = source.stat()
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    else:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in sorted(filenames):
                stat = os.stat(os.path.join(dirpath, name))
                relative = os.path.relpath(os.path.join(dirpath, name), source)
                digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _write_cache(cache_file: Path, dataset: Dataset) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=cache_file.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                x_train=dataset.x_train,
                y_train=dataset.y_train,
                x_test=dataset.x_test,
                y_test=dataset.y_test,
                class_names=np.asarray(dataset.class_names),
            )
        os.replace(temporary, cache_file)
    except OSError:
        # A cache that cannot be written only costs time on the next load.
        if "temporary" in locals() and os.path.exists(temporary):
            os.unlink(temporary)
