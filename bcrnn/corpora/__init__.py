"""Corpora: Emo-DB, IEMOCAP and the built-in synthetic corpus, behind one `load_corpus`."""

from __future__ import annotations

from pathlib import Path

from bcrnn.corpora.base import Corpus, CorpusError, Utterance

DEFAULT_DOWNLOAD_DIR = Path("data")


def load_corpus(dataset: str, data_dir: str | Path | None = None, download: bool = False,
                merge_excited: bool = False) -> Corpus:
    """The corpus named `dataset`, from `data_dir` (Emo-DB can be downloaded there first)."""
    if dataset == "synth":
        from bcrnn.corpora.synth import load_synth

        return load_synth()
    if dataset == "emodb":
        from bcrnn.corpora.emodb import download_emodb, load_emodb

        if download:
            data_dir = download_emodb(Path(data_dir) if data_dir else DEFAULT_DOWNLOAD_DIR / "emodb")
        if data_dir is None:
            raise CorpusError("Emo-DB: pass --data-dir PATH (a folder of its wav files), or --download to fetch it")
        return load_emodb(data_dir)
    if dataset == "iemocap":
        from bcrnn.corpora.iemocap import load_iemocap

        if download:
            raise CorpusError("IEMOCAP is licensed per user and cannot be downloaded automatically: request it "
                              "from its authors and pass --data-dir PATH (the folder holding Session1..Session5)")
        if data_dir is None:
            raise CorpusError("IEMOCAP: pass --data-dir PATH (the folder holding Session1..Session5)")
        return load_iemocap(data_dir, merge_excited=merge_excited)
    raise CorpusError(f"unknown dataset {dataset!r}: choose synth, emodb or iemocap")


__all__ = ["Corpus", "CorpusError", "Utterance", "load_corpus"]
