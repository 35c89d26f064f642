"""The DailyDialog download: the official archive layout, checksum-verified."""
import io
import os
import zipfile

import pytest

from preprocessing import datasets
from preprocessing.corpora.common import InputError
from tests.helpers import corpus_path


def official_layout_zip(root, path, corrupt=False):
    """ijcnlp_dailydialog.zip: nested train/validation/test zips, as published."""
    with zipfile.ZipFile(path, "w") as outer:
        for split in ("train", "validation", "test"):
            inner_bytes = io.BytesIO()
            with zipfile.ZipFile(inner_bytes, "w") as inner:
                for kind in ("", "act_", "emotion_"):
                    name = f"{split}/dialogues_{kind}{split}.txt"
                    data = open(os.path.join(root, name), "rb").read()
                    if corrupt and not kind:
                        data = data.replace(b"__eou__", b"__EOU__", 1)
                    inner.writestr(name, data)
            outer.writestr(f"ijcnlp_dailydialog/{split}.zip", inner_bytes.getvalue())


@pytest.mark.corpus
def test_download_unpacks_and_verifies_the_official_archive(tmp_path):
    official_layout_zip(corpus_path("dailydialog"), tmp_path / "dd.zip")
    target = tmp_path / "cache" / "dailydialog"
    got = datasets.download_dailydialog(str(target), url=(tmp_path / "dd.zip").as_uri())
    assert got == str(target)
    assert (target / "train" / "dialogues_train.txt").stat().st_size > 1_000_000
    # Cached: a second call does not download (an unreachable URL is not touched).
    assert datasets.download_dailydialog(str(target), url="file:///nonexistent.zip") == str(target)


@pytest.mark.corpus
def test_checksum_mismatch_and_unreachable_url_say_what_to_pass(tmp_path):
    official_layout_zip(corpus_path("dailydialog"), tmp_path / "bad.zip", corrupt=True)
    with pytest.raises(InputError, match="SHA-256 mismatch.*--input"):
        datasets.download_dailydialog(str(tmp_path / "a"), url=(tmp_path / "bad.zip").as_uri())
    assert not (tmp_path / "a").exists()
    with pytest.raises(InputError, match="could not download.*--input"):
        datasets.download_dailydialog(str(tmp_path / "b"), url="file:///nonexistent.zip")


def test_input_resolution_order(tmp_path, monkeypatch):
    (tmp_path / "cornell").mkdir()
    monkeypatch.setenv("DIALOGVAE_DATA", str(tmp_path))
    assert datasets.resolve_input("cornell", "explicit") == "explicit"
    assert datasets.resolve_input("cornell") == str(tmp_path / "cornell")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "_REPO_ROOT", str(tmp_path))
    with pytest.raises(InputError, match="--input"):
        datasets.resolve_input("switchboard")
