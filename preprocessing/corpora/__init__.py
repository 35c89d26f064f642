"""One reader PTransform per corpus; each returns (dialogues, rejections)."""
from preprocessing.corpora.common import InputError
from preprocessing.corpora.cornell import ReadCornell
from preprocessing.corpora.dailydialog import ReadDailyDialog
from preprocessing.corpora.jsonl import ReadJsonl, ReadSwitchboard
from preprocessing.corpora.ubuntu import ReadUbuntu

READERS = {
    "dailydialog": ReadDailyDialog,
    "cornell": ReadCornell,
    "ubuntu": ReadUbuntu,
    "switchboard": ReadSwitchboard,
    "jsonl": ReadJsonl,
}


def make_reader(corpus, input_path):
    """The reader for `corpus`; InputError naming the choices for an unknown name."""
    if corpus not in READERS:
        raise InputError(f"--corpus {corpus!r} is not known; choose one of "
                         f"{', '.join(sorted(READERS))}")
    return READERS[corpus](input_path)
