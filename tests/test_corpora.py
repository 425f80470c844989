"""Corpus loaders: Emo-DB (real copy if present, edge cases, download) and IEMOCAP (on a fake tree)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bcrnn.corpora.base import CorpusError
from bcrnn.corpora.emodb import (
    CHECKSUM_FILE,
    EMODB_CLASSES,
    EMOTION_LETTERS,
    download_emodb,
    load_emodb,
    read_checksums,
    verify_emodb,
)
from bcrnn.corpora.iemocap import IEMOCAP_CLASSES, load_iemocap

try:  # works whether or not tests/ is a package
    from iemocap_fixture import make_iemocap_fixture
except ImportError:
    from tests.iemocap_fixture import make_iemocap_fixture

SR = 16_000
EMODB_DIR = Path(os.environ.get("BCRNN_EMODB_DIR", "/work/shared/data/emodb"))
EMODB_WAV = EMODB_DIR / "wav" if (EMODB_DIR / "wav").is_dir() else EMODB_DIR
needs_emodb = pytest.mark.skipif(
    not EMODB_DIR.is_dir(),
    reason=f"no Emo-DB copy at {EMODB_DIR} (set BCRNN_EMODB_DIR to the folder of your copy)",
)


def _tone(path: Path, seconds: float = 0.5, sr: int = SR, channels: int = 1) -> None:
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.3 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    soundfile.write(str(path), np.stack([wave] * channels, axis=1) if channels > 1 else wave, sr)


def _class_counts(corpus) -> dict[str, int]:
    return dict(Counter(corpus.classes[u.label] for u in corpus.utterances))


# ---------------------------------------------------------------- Emo-DB, real copy


@needs_emodb
def test_emodb_real_copy_counts():
    corpus = load_emodb(EMODB_DIR)
    assert corpus.name == "emodb" and corpus.classes == EMODB_CLASSES
    assert len(corpus) == 535
    assert corpus.skipped == []
    assert corpus.speakers == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    expected = {"W": 127, "L": 81, "E": 46, "A": 69, "F": 71, "T": 62, "N": 79}
    assert _class_counts(corpus) == {EMOTION_LETTERS[k]: n for k, n in expected.items()}
    speakers = Counter(u.speaker for u in corpus.utterances)
    assert speakers == {"03": 49, "08": 58, "09": 43, "10": 38, "11": 55,
                        "12": 35, "13": 61, "14": 69, "15": 56, "16": 71}
    first = next(u for u in corpus.utterances if u.utt_id == "03a01Fa")
    assert first.speaker == "03" and corpus.classes[first.label] == "happiness"


@needs_emodb
def test_emodb_real_copy_waveform():
    corpus = load_emodb(EMODB_WAV)  # the wav folder itself is accepted too
    utt = next(u for u in corpus.utterances if u.utt_id == "03a01Fa")
    wave = corpus.load_waveform(utt)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.size == soundfile.info(str(utt.path)).frames == 30372  # 16 kHz already: no resampling
    assert soundfile.info(str(utt.path)).samplerate == SR


@needs_emodb
def test_verify_emodb_real_copy():
    assert verify_emodb(EMODB_DIR) == []


def test_shipped_checksum_list():
    lines = CHECKSUM_FILE.read_text().splitlines()
    assert len(lines) == 535
    checksums = read_checksums()
    assert len(checksums) == 535
    assert checksums["03a01Fa.wav"] == "9c0fd58b5068636d850cf10b69f71da3947493fc20168908b3a79f07cfe8ee24"
    assert all(len(d) == 64 for d in checksums.values())


# ---------------------------------------------------------------- Emo-DB, edge cases


def test_emodb_edge_cases(tmp_path):
    wav = tmp_path / "wav"
    wav.mkdir()
    _tone(wav / "03a01Wa.wav")  # good
    _tone(wav / "13a02Tb.WAV")  # good, upper-case extension
    _tone(wav / "08a02La.wav", seconds=0.5, sr=44_100, channels=2)  # stereo 44.1 kHz: repaired
    soundfile.write(str(wav / "09a01Ea.wav"), np.zeros(0, dtype=np.float32), SR)  # empty
    soundfile.write(str(wav / "10a01Aa.wav"), np.zeros(10, dtype=np.float32), SR)  # too short
    (wav / "11a01Fa.wav").write_text("this is not audio at all\n")  # junk named like a wav
    _tone(wav / "hello.wav")  # bad name
    _tone(wav / "12a01Xa.wav")  # unknown emotion letter X
    (wav / "notes.txt").write_text("ignored")

    corpus = load_emodb(tmp_path)  # the parent of wav/, as in the official zip
    ids = {u.utt_id for u in corpus.utterances}
    assert ids == {"03a01Wa", "13a02Tb", "08a02La", "09a01Ea", "10a01Aa", "11a01Fa"}
    reasons = dict(corpus.skipped)
    assert "pattern" in reasons["hello.wav"]
    assert "unknown emotion letter 'X'" in reasons["12a01Xa.wav"]

    yielded = {utt_id: (wave, label, speaker) for wave, label, speaker, utt_id in corpus}
    assert set(yielded) == {"03a01Wa", "13a02Tb", "08a02La"}
    stereo, label, speaker = yielded["08a02La"]
    assert stereo.ndim == 1 and stereo.dtype == np.float32
    assert stereo.size == 8000  # 0.5 s at 16 kHz after downmix and resampling
    assert corpus.classes[label] == "boredom" and speaker == "08"
    assert corpus.classes[yielded["13a02Tb"][1]] == "sadness"

    reasons = dict(corpus.skipped)
    assert "no samples" in reasons["09a01Ea"]
    assert "shorter than one 25 ms frame" in reasons["10a01Aa"]
    assert "unreadable audio" in reasons["11a01Fa"]
    assert len(corpus.skipped) == 5
    assert "hello.wav" in corpus.summary()


def test_emodb_missing_folder(tmp_path):
    with pytest.raises(CorpusError, match="does not exist") as err:
        load_emodb(tmp_path / "nowhere")
    assert "--download" in str(err.value) and "03a01Fa.wav" in str(err.value)


def test_emodb_folder_without_matching_wav(tmp_path):
    _tone(tmp_path / "hello.wav")
    with pytest.raises(CorpusError, match="no Emo-DB wav file") as err:
        load_emodb(tmp_path)
    assert "--download" in str(err.value)


# ---------------------------------------------------------------- Emo-DB, download


def _make_zip(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A small zip in the official layout (wav/ plus the corpus notes) and its checksums."""
    src = tmp_path / "src"
    (src / "wav").mkdir(parents=True)
    names = ["03a01Wa.wav", "08a02La.wav", "16b10Tb.wav"]
    for i, name in enumerate(names):
        _tone(src / "wav" / name, seconds=0.3 + 0.1 * i)
    zip_path = tmp_path / "download.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name in names:
            archive.write(src / "wav" / name, f"wav/{name}")
        archive.writestr("erklaerung.txt", "notes")
    checksums = {n: hashlib.sha256((src / "wav" / n).read_bytes()).hexdigest() for n in names}
    return zip_path, checksums


def test_download_emodb_from_file_url(tmp_path):
    zip_path, checksums = _make_zip(tmp_path)
    dest = tmp_path / "dest"
    folder = download_emodb(dest, url=zip_path.as_uri(), checksums=checksums)
    corpus = load_emodb(folder)
    assert sorted(u.utt_id for u in corpus.utterances) == ["03a01Wa", "08a02La", "16b10Tb"]
    assert verify_emodb(folder, checksums) == []
    assert not list(dest.glob("*.part"))  # no temporary file left behind
    # A verified copy is reused without touching the network.
    assert download_emodb(dest, url="http://127.0.0.1:9/nothing.zip", checksums=checksums) == folder


def test_download_emodb_wrong_checksum(tmp_path):
    zip_path, checksums = _make_zip(tmp_path)
    checksums["08a02La.wav"] = "0" * 64
    with pytest.raises(CorpusError, match="08a02La.wav has the wrong sha256"):
        download_emodb(tmp_path / "dest", url=zip_path.as_uri(), checksums=checksums)
    assert not (tmp_path / "dest" / "emodb.zip").exists()  # a bad zip is not reused next time


def test_download_emodb_missing_listed_file(tmp_path):
    zip_path, checksums = _make_zip(tmp_path)
    checksums["99a01Na.wav"] = "0" * 64
    with pytest.raises(CorpusError, match="99a01Na.wav is missing"):
        download_emodb(tmp_path / "dest", url=zip_path.as_uri(), checksums=checksums)


def test_download_emodb_unreachable(tmp_path):
    url = "http://127.0.0.1:9/nothing.zip"
    with pytest.raises(CorpusError, match="download it by hand and pass --data-dir") as err:
        download_emodb(tmp_path / "dest", url=url, checksums={"03a01Wa.wav": "0" * 64}, timeout=5)
    assert url in str(err.value)
    assert list((tmp_path / "dest").iterdir()) == []  # no half file


def test_download_emodb_not_a_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_text("<html>error page</html>")
    with pytest.raises(CorpusError, match="not a valid zip"):
        download_emodb(tmp_path / "dest", url=fake.as_uri(), checksums={"03a01Wa.wav": "0" * 64})


# ---------------------------------------------------------------- IEMOCAP


@pytest.fixture
def iemocap(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    return root, make_iemocap_fixture(root, sessions=(1, 2), seed=0)


def test_iemocap_counts_and_speakers(iemocap):
    root, facts = iemocap
    corpus = load_iemocap(root)
    assert corpus.name == "iemocap" and corpus.classes == IEMOCAP_CLASSES
    assert _class_counts(corpus) == facts["counts"]
    # Written out by hand as well: 2 sessions x 2 improvised dialogs, one angry wav missing.
    assert facts["counts"] == {"angry": 6, "happy": 4, "sad": 4, "neutral": 6}
    assert len(corpus) == 20
    assert corpus.speakers == facts["speakers"] == ["Ses01F", "Ses01M", "Ses02F", "Ses02M"]
    assert dict(corpus.unused_labels) == facts["unused"] == {"exc": 4, "fru": 4, "xxx": 4}
    assert corpus.scripted_excluded == len(facts["scripted"]) == 10
    assert "fru 4" in corpus.summary() and "10 scripted" in corpus.summary()


def test_iemocap_merge_excited(iemocap):
    root, facts = iemocap
    corpus = load_iemocap(root, merge_excited=True)
    assert _class_counts(corpus) == facts["counts_merged"]
    assert facts["counts_merged"]["happy"] == facts["counts"]["happy"] + 4
    assert "exc" not in corpus.unused_labels


def test_iemocap_scripted_excluded_and_included(iemocap):
    root, facts = iemocap
    ids = {u.utt_id for u in load_iemocap(root).utterances}
    assert not any("_script" in i for i in ids)
    assert ids <= set(facts["improvised"])
    with_scripted = {u.utt_id for u in load_iemocap(root, improvised_only=False).utterances}
    assert "Ses01F_script01_1_F000" in with_scripted and ids < with_scripted


def test_iemocap_speaker_from_utterance_not_dialog(iemocap):
    root, facts = iemocap
    by_id = {u.utt_id: u for u in load_iemocap(root).utterances}
    # In the dialog recorded with the female speaker's markers, the male speaker still speaks.
    assert by_id["Ses01F_impro01_M000"].speaker == "Ses01M"
    assert by_id["Ses02M_impro02_F000"].speaker == "Ses02F"
    for utt_id, utt in by_id.items():
        assert utt.speaker == facts["by_id"][utt_id][1]
        assert IEMOCAP_CLASSES[utt.label] == {"ang": "angry", "hap": "happy", "sad": "sad",
                                              "neu": "neutral"}[facts["by_id"][utt_id][0]]


def test_iemocap_missing_wav_reported(iemocap):
    root, facts = iemocap
    corpus = load_iemocap(root)
    assert facts["missing"] == ["Ses01F_impro01_M004"]
    assert [item for item, _ in corpus.skipped] == facts["missing"]
    assert "is missing" in corpus.skipped[0][1]
    assert facts["missing"][0] not in {u.utt_id for u in corpus.utterances}
    waves = list(corpus)
    assert len(waves) == len(corpus) and all(w.dtype == np.float32 and w.size >= 8000 for w, *_ in waves)


def test_iemocap_parent_folder_accepted(iemocap):
    root, facts = iemocap
    assert len(load_iemocap(root.parent)) == sum(facts["counts"].values())


def test_iemocap_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="does not exist") as err:
        load_iemocap(tmp_path / "nowhere")
    assert "Session1..5/dialog/EmoEvaluation" in str(err.value)
    with pytest.raises(CorpusError, match="no Session folder"):
        load_iemocap(tmp_path)
