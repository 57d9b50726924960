"""Reader for the Kinect Gait Biometry Dataset (KGBD, Andersson & Araujo, AAAI 2015).

Walk files ``PersonNNN/K.txt`` hold one line per joint, ``JointName;x;y;z``, 20 lines per
frame in the order of :data:`~himpc.layouts.KGBD_FILE_JOINTS`.  :func:`load_kgbd` reads the
``KGBD.tar.gz`` archive directly (no unpacking) or an unpacked folder, validates every line
(errors name the file and the 1-based line) and caches the result as a small ``.npz``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Iterator, NoReturn, Optional, Union

import numpy as np

from ..layouts import KGBD_FILE_JOINTS, get_layout
from .skeletons import DataError, SkeletonSet

log = logging.getLogger("himpc.data")

KGBD_SHA256 = "87b4cd0909ec06b923b97b6de28027bae2c405f7bbddc8c91781a7d0694df1f5"
KGBD_URL = ("https://github.com/Vortander/KinectGait/archive/"
            "b1d8e048973c283808f8625169c3fd7e757adff5.tar.gz")
_CACHE_VERSION = "kgbd-v1"
_WALK_RE = re.compile(r"(?:^|/)(Person\d+)/(\d+)\.txt$")
_CSV_RE = re.compile(r"(?:^|/)GenderBMIData/person-data\.csv$")
_J = len(KGBD_FILE_JOINTS)
_JOINTS = list(KGBD_FILE_JOINTS)

PathLike = Union[str, Path]


# ----------------------------------------------------------------------------- parsing
def parse_walk(data: bytes, name: str) -> np.ndarray:
    """Parse one walk file's bytes into float32 [frames, 20, 3] (file joint order).

    Fast path: one ``split`` of the whole text and one numpy float conversion.  On any
    irregularity a line-by-line pass finds the first bad line and raises :class:`DataError`.
    """
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip()
    if not text:
        raise DataError(f"{name}: empty file (no joint lines)")
    n = text.count("\n") + 1
    tok = text.replace("\n", ";").split(";")
    if len(tok) != 4 * n or n % _J:
        _diagnose(text, name)
    names = tok[0::4]
    expected = _JOINTS * (n // _J)
    if names != expected and [s.strip() for s in names] != expected:
        _diagnose(text, name)
    del tok[0::4]
    try:
        xyz = np.array(tok, dtype=np.float64).reshape(n, 3)
    except ValueError:
        _diagnose(text, name)
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{name}, line {i + 1}: NaN or infinite coordinate ({int(bad.sum())} such lines)")
    return xyz.astype(np.float32).reshape(n // _J, _J, 3)


def _diagnose(text: str, name: str) -> NoReturn:
    """Slow line-by-line check, only run once the fast path failed: raise at the first bad line."""
    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        parts = line.split(";")
        if len(parts) != 4:
            raise DataError(f"{name}, line {i}: expected 4 ';'-separated fields (joint;x;y;z), "
                            f"got {len(parts)}: {line[:80]!r}")
        k = (i - 1) % _J
        joint = parts[0].strip()
        if joint != KGBD_FILE_JOINTS[k]:
            raise DataError(f"{name}, line {i}: expected joint {KGBD_FILE_JOINTS[k]!r} (joint {k + 1} of "
                            f"{_J} in frame {(i - 1) // _J + 1}), found {joint!r}: a joint line is "
                            "missing or out of order")
        for p in parts[1:]:
            try:
                v = float(p)
            except ValueError:
                raise DataError(f"{name}, line {i}: non-numeric coordinate {p.strip()!r}") from None
            if not math.isfinite(v):
                raise DataError(f"{name}, line {i}: NaN or infinite coordinate {p.strip()!r}")
    if len(lines) % _J:
        r = len(lines) % _J
        start = len(lines) - r + 1
        raise DataError(f"{name}, line {start}: truncated final frame: lines {start}-{len(lines)} hold "
                        f"{r} of {_J} joints ({len(lines)} lines is not a multiple of {_J})")
    raise DataError(f"{name}: could not parse the file")  # not reached for well-formed input


def parse_person_data(data: bytes, name: str = "person-data.csv") -> dict:
    """``GenderBMIData/person-data.csv`` as {person: {column: value}}; {} if unreadable."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace").lstrip("\ufeff"))))
        header = [h.strip() for h in rows[0]]
        out = {}
        for row in rows[1:]:
            if not row or not row[0].strip():
                continue
            rec = {}
            for h, v in zip(header[1:], row[1:]):
                v = v.strip()
                try:
                    rec[h] = float(v) if v else None
                except ValueError:
                    rec[h] = v
            out[row[0].strip()] = rec
        return out
    except Exception as err:  # optional metadata: never fail the load
        log.warning("%s: could not parse person data (%s); ignoring it", name, err)
        return {}


# ----------------------------------------------------------------------------- sources
def _find_source(path: Path) -> Path:
    """The tarball or the folder holding ``PersonNNN/`` that ``path`` points at."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"KGBD path {path} does not exist; put KGBD.tar.gz at <data root>/kgbd/KGBD.tar.gz")
    for cand in (path / "KGBD.tar.gz", path / "kgbd" / "KGBD.tar.gz"):
        if cand.is_file():
            return cand
    for cand in (path, path / "Data", path / "KGBD" / "Data", path / "kgbd" / "KGBD" / "Data"):
        if cand.is_dir() and any(p.is_dir() and re.fullmatch(r"Person\d+", p.name) for p in cand.iterdir()):
            return cand
    raise DataError(f"no KGBD data under {path}: expected KGBD.tar.gz, kgbd/KGBD.tar.gz, or an unpacked "
                    "folder with PersonNNN/K.txt (at ., Data, KGBD/Data or kgbd/KGBD/Data)")


def _source_key(src: Path) -> str:
    """Hash identifying the source's content cheaply (size, mtime, head/tail bytes or file list)."""
    h = hashlib.sha256(_CACHE_VERSION.encode())
    if src.is_file():
        st = src.stat()
        h.update(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
        with open(src, "rb") as f:
            h.update(f.read(1 << 20))
            f.seek(max(0, st.st_size - (1 << 20)))
            h.update(f.read(1 << 20))
    else:
        files = sorted(p for p in src.glob("Person*/*.txt"))
        csv_path = src.parent / "GenderBMIData" / "person-data.csv"
        if csv_path.is_file():
            files.append(csv_path)
        h.update(str(src.resolve()).encode())
        for p in files:
            st = p.stat()
            h.update(f"|{p.relative_to(src.parent)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _iter_tar(src: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(src, mode="r|*") as tf:
            for m in tf:
                if m.isfile() and (_WALK_RE.search(m.name) or _CSV_RE.search(m.name)):
                    f = tf.extractfile(m)
                    yield m.name, f.read() if f is not None else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise DataError(f"{src}: cannot read the archive ({err}); is it a complete KGBD.tar.gz?") from err


def _iter_folder(src: Path) -> Iterator[tuple[str, bytes]]:
    for p in sorted(src.glob("Person*/*.txt")):
        yield f"{p.parent.name}/{p.name}", p.read_bytes()
    csv_path = src.parent / "GenderBMIData" / "person-data.csv"
    if csv_path.is_file():
        yield "GenderBMIData/person-data.csv", csv_path.read_bytes()


def _parse_source(src: Path, progress: bool) -> tuple[SkeletonSet, dict]:
    from tqdm import tqdm

    walks: dict[tuple[str, int], np.ndarray] = {}
    person_data: dict = {}
    is_tar = src.is_file()
    items = _iter_tar(src) if is_tar else _iter_folder(src)
    prefix = f"{src.name}:" if is_tar else f"{src}/"
    for member, data in tqdm(items, desc="reading KGBD", unit=" files", disable=not progress):
        if _CSV_RE.search(member):
            person_data = parse_person_data(data, prefix + member)
            continue
        m = _WALK_RE.search(member)
        if m is None:
            continue
        key = (m.group(1), int(m.group(2)))
        if key in walks:
            raise DataError(f"{prefix}{member}: walk {key[0]}/{key[1]} appears twice")
        walks[key] = parse_walk(data, prefix + member)
    if not walks:
        raise DataError(f"{src}: no PersonNNN/K.txt walk files found")
    keys = sorted(walks, key=lambda k: (int(k[0][6:]), k[0], k[1]))
    arrays = [walks[k] for k in keys]
    ss = SkeletonSet(
        positions=np.concatenate(arrays),
        walk_offsets=np.concatenate([[0], np.cumsum([len(a) for a in arrays])]),
        person=np.array([k[0] for k in keys]), layout=get_layout("kinect-v1-20"),
        walk_names=np.array([f"{k[0]}/{k[1]}" for k in keys]), source=str(src),
    )
    return ss, person_data


# ----------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    return Path(os.environ.get("HIMPC_CACHE") or Path.home() / ".cache" / "himpc")


def _load_cache(file: Path, key: str, src: Path) -> Optional[SkeletonSet]:
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as z:
            if str(z["source_key"]) != key:
                raise ValueError("source key mismatch")
            ss = SkeletonSet(positions=z["positions"], walk_offsets=z["walk_offsets"], person=z["person"],
                             layout=get_layout("kinect-v1-20"), walk_names=z["walk_names"], source=str(src))
            ss.meta["person_data"] = json.loads(str(z["person_data"]))
        log.info("KGBD loaded from cache %s", file)
        return ss
    except Exception as err:
        log.warning("ignoring unreadable KGBD cache %s (%s); rebuilding it", file, err)
        return None


def _save_cache(file: Path, key: str, ss: SkeletonSet) -> None:
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, positions=ss.positions, walk_offsets=ss.walk_offsets,
                     person=ss.person.astype(str), walk_names=ss.walk_names.astype(str),
                     person_data=np.array(json.dumps(ss.meta.get("person_data", {}))),
                     source_key=np.array(key))
        os.replace(tmp, file)
        log.info("KGBD cache written to %s", file)
    except OSError as err:
        log.warning("could not write KGBD cache %s (%s)", file, err)


# ----------------------------------------------------------------------------- public
def load_kgbd(path: PathLike, cache_dir: Optional[PathLike] = None, progress: bool = True,
              use_cache: bool = True) -> SkeletonSet:
    """Load KGBD from ``KGBD.tar.gz``, a folder holding it (or ``kgbd/KGBD.tar.gz``), or an unpacked
    folder with ``PersonNNN/K.txt`` (at ``.``, ``Data``, ``KGBD/Data`` or ``kgbd/KGBD/Data``).

    Layout ``kinect-v1-20`` (the file's joint order); persons ``Person001``..., walk names
    ``Person001/1``..., walks sorted by person then walk number.  The parsed set is cached
    under ``cache_dir`` (default ``$HIMPC_CACHE`` or ``~/.cache/himpc``) keyed by the source.
    """
    src = _find_source(Path(path).expanduser())
    file = None
    if use_cache:
        key = _source_key(src)
        file = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        file = file / f"kgbd-{key[:20]}.npz"
        ss = _load_cache(file, key, src)
        if ss is not None:
            return ss
    t0 = time.perf_counter()
    ss, person_data = _parse_source(src, progress)
    ss.meta["person_data"] = person_data
    log.info("KGBD parsed from %s in %.1f s: %d persons, %d walks, %d frames", src,
             time.perf_counter() - t0, len(np.unique(ss.person)), ss.num_walks, len(ss.positions))
    if file is not None:
        _save_cache(file, key, ss)
    return ss


def sha256_file(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_kgbd_archive(path: PathLike) -> bool:
    """True if ``path`` is byte-identical to the reference ``KGBD.tar.gz`` (sha256 :data:`KGBD_SHA256`)."""
    digest = sha256_file(path)
    if digest == KGBD_SHA256:
        log.info("%s: sha256 matches the reference KGBD.tar.gz", path)
        return True
    log.warning("%s: sha256 %s differs from the reference KGBD.tar.gz (%s); an archive downloaded from "
                "GitHub differs byte-wise but load_kgbd still validates every line", path, digest, KGBD_SHA256)
    return False


def fetch_kgbd(dest_dir: PathLike, progress: bool = True) -> Path:
    """Download the KinectGait repository archive (pinned commit) to ``dest_dir/kgbd/KGBD.tar.gz``.

    GitHub builds that archive on the fly, so its sha256 is recorded (``KGBD.tar.gz.sha256``)
    and printed rather than checked.  :func:`load_kgbd` reads it as is.
    """
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    dest = Path(dest_dir).expanduser() / "kgbd" / "KGBD.tar.gz"
    if dest.is_file():
        log.info("%s already exists; not downloading", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(KGBD_URL, timeout=60) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="KGBD", disable=not progress) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"could not download KGBD from {KGBD_URL} ({err}). Without network access, copy the "
            f"KGBD archive to {dest} (reference KGBD.tar.gz sha256 {KGBD_SHA256}) and point "
            "--data / HIMPC_DATA at its parent folder") from err
    os.replace(tmp, dest)
    digest = h.hexdigest()
    dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    msg = (f"KGBD downloaded to {dest} (sha256 {digest}). This is GitHub's archive of "
           "Vortander/KinectGait at the pinned commit; load_kgbd reads Data/PersonNNN/K.txt from it "
           "directly. Cite Andersson & Araujo, AAAI 2015.")
    log.info(msg)
    print(msg)
    return dest
