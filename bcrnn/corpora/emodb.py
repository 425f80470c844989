"""Emo-DB (Berlin Database of Emotional Speech): loading a local copy, downloading and verifying it.

The corpus is never bundled with the project: users pass the folder of their own copy, or let
`download_emodb` fetch the public zip. Only the list of file checksums ships with the package
(`emodb_sha256.txt`), so a download can be checked file by file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from bcrnn.corpora.base import Corpus, CorpusError, Utterance

EMODB_URL = "http://emodb.bilderbar.info/download/download.zip"
EMODB_CLASSES = ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")
# The 6th character of a file name is the German initial of the emotion.
EMOTION_LETTERS = {
    "W": "anger",  # Wut / Aerger
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happiness",  # Freude
    "T": "sadness",  # Trauer
    "N": "neutral",
}
CHECKSUM_FILE = Path(__file__).with_name("emodb_sha256.txt")

# speaker (2 digits), text code (a01..b10), emotion letter, optional version letter.
# The letter group accepts any capital so that an unknown emotion letter gets its own, clearer reason.
_NAME_RE = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z]?)\.wav$")
_HINT = "pass the folder of your Emo-DB copy with --data-dir, or fetch the public copy with --download"


def _wav_folder(data_dir: Path) -> Path:
    """The folder holding the wav files: `data_dir` itself or its `wav/` subfolder (official zip layout)."""
    sub = data_dir / "wav"
    return sub if sub.is_dir() else data_dir


def _is_wav(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".wav" and not path.name.startswith(".")


def load_emodb(data_dir: str | Path) -> Corpus:
    """Index an Emo-DB copy by file name; unusable names are recorded in `skipped`, never fatal.

    Audio is read lazily when the corpus is iterated, so broken wav files are reported there.
    Files that are not `.wav` (notes, labels, hidden files) are ignored without a report.
    """
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise CorpusError(
            f"Emo-DB folder {data_dir} does not exist; expected a folder of wav files named like 03a01Fa.wav "
            f"(or a folder with a wav/ subfolder, as in the official zip); {_HINT}"
        )
    folder = _wav_folder(data_dir)
    utterances: list[Utterance] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path in sorted(p for p in folder.iterdir() if _is_wav(p)):
        match = _NAME_RE.match(path.stem + ".wav")  # the extension is matched case-insensitively
        if match is None:
            skipped.append((path.name, "file name does not follow the Emo-DB pattern like 03a01Fa.wav"))
            continue
        speaker, _text, letter, _version = match.groups()
        if letter not in EMOTION_LETTERS:
            skipped.append((path.name, f"unknown emotion letter {letter!r} (expected one of WLEAFTN)"))
            continue
        if path.stem in seen:
            skipped.append((path.name, f"duplicate utterance id {path.stem}"))
            continue
        seen.add(path.stem)
        label = EMODB_CLASSES.index(EMOTION_LETTERS[letter])
        utterances.append(Utterance(utt_id=path.stem, speaker=speaker, label=label, path=path))
    if not utterances:
        raise CorpusError(
            f"no Emo-DB wav file found in {folder}; expected files named like 03a01Fa.wav "
            f"(speaker, text, emotion letter, version); {_HINT}"
        )
    return Corpus(name="emodb", classes=EMODB_CLASSES, utterances=utterances, skipped=skipped)


def read_checksums(path: str | Path = CHECKSUM_FILE) -> dict[str, str]:
    """Parse a `sha256sum`-style list (`<sha256>  <filename>` per line) into {filename: sha256}."""
    checksums = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            checksums[name.strip().lstrip("*")] = digest.lower()
    return checksums


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_emodb(folder: str | Path, checksums: dict[str, str] | None = None) -> list[str]:
    """Names of listed files that are missing or whose sha256 differs (an empty list means a good copy).

    `folder` is the wav folder or its parent; files not in the list are ignored.
    """
    checksums = read_checksums() if checksums is None else checksums
    wav_dir = _wav_folder(Path(folder))
    bad = []
    for name, digest in sorted(checksums.items()):
        path = wav_dir / name
        if not path.is_file() or _sha256(path) != digest.lower():
            bad.append(name)
    return bad


def _fetch(url: str, target: Path, timeout: float) -> None:
    """Stream `url` into `target` through a temporary file, so an interrupted download leaves no half zip."""
    fd, tmp_name = tempfile.mkstemp(prefix=".emodb-", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="Emo-DB download") as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and bar.n != total:
                raise CorpusError(f"download from {url} stopped after {bar.n} of {total} bytes; try again")
        tmp.replace(target)
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise CorpusError(
            f"could not download Emo-DB from {url} ({reason}); download it by hand and pass --data-dir"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)


def _extract(zip_path: Path, dest: Path) -> None:
    """Unpack the zip, refusing members that would land outside `dest`."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            root = dest.resolve()
            for member in archive.namelist():
                if not (root / member).resolve().is_relative_to(root):
                    raise CorpusError(f"{zip_path}: refusing to extract {member!r} outside {dest}")
            archive.extractall(dest)
    except zipfile.BadZipFile as err:
        zip_path.unlink(missing_ok=True)  # so the next attempt downloads it again
        raise CorpusError(f"{zip_path} is not a valid zip file ({err}); it was removed, try again") from err


def download_emodb(
    dest_dir: str | Path,
    url: str = EMODB_URL,
    checksums: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download, unpack and verify Emo-DB into `dest_dir`; return the folder to pass to `load_emodb`.

    `checksums` maps wav file names to sha256 (None = the 535-file list shipped with the package).
    A copy already present and verified is reused; a completed zip left by an earlier run is not fetched again.
    """
    dest = Path(dest_dir).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    checksums = read_checksums() if checksums is None else checksums
    if checksums and not verify_emodb(dest, checksums):
        return dest
    zip_path = dest / "emodb.zip"
    if not zip_path.is_file():
        _fetch(url, zip_path, timeout)
    _extract(zip_path, dest)
    bad = verify_emodb(dest, checksums)
    if bad:
        zip_path.unlink(missing_ok=True)  # a corrupt zip must not be reused by the next attempt
        where = _wav_folder(dest) / bad[0]
        problem = "is missing" if not where.is_file() else "has the wrong sha256 checksum"
        raise CorpusError(
            f"Emo-DB check failed: {where} {problem} ({len(bad)} bad file(s) of {len(checksums)}); "
            f"the download from {url} is incomplete or altered"
        )
    return dest


__all__ = [
    "EMODB_CLASSES",
    "EMODB_URL",
    "EMOTION_LETTERS",
    "download_emodb",
    "load_emodb",
    "read_checksums",
    "verify_emodb",
]
