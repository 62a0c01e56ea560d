"""ctl.data.folders: a command replaces only a folder it made; everything else is refused and left as it was, and a
command stopped by an error leaves no temporary folder behind."""
import pytest

from ctl.data.folders import PARTIAL_MARK, PARTIAL_SUFFIX, building, check_output_folder


def ours(folder):
    return (folder / "made-by-ctl").exists()


def contents(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def user_folder(tmp_path):
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work")
    (folder / "sub" / "scan.nii.gz").write_text("x")
    return folder


def test_a_folder_of_the_users_is_refused_and_left_as_it_was(user_folder):
    before = contents(user_folder)
    with pytest.raises(ValueError, match=r"refusing to replace .*mine: it is not empty \(it holds sub/, thesis.tex\) "
                                         r"and was not made by ctl"):
        with building(user_folder, ours):
            pytest.fail("the body must not run")
    assert contents(user_folder) == before
    assert not (user_folder.parent / ("mine" + PARTIAL_SUFFIX)).exists()


def test_the_current_folder_and_folders_holding_the_input_are_refused(tmp_path, monkeypatch):
    (tmp_path / "data" / "btcv").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "data")
    for out in (".", tmp_path, tmp_path / "data"):
        with pytest.raises(ValueError, match="current folder or holds it"):
            check_output_folder(out, ours)
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(ValueError, match=r"it holds the input data .*data/btcv"):
        check_output_folder(tmp_path / "data", ours, inputs=[tmp_path / "data" / "btcv"])
    with pytest.raises(ValueError, match="holds the input data"):  # equal to the input
        check_output_folder(tmp_path / "data" / "btcv", ours, inputs=[tmp_path / "data" / "btcv"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "file", ours)


def test_new_empty_and_own_folders_are_written(tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        with building(out, ours) as tmp:
            assert tmp.name == out.name + PARTIAL_SUFFIX and (tmp / PARTIAL_MARK).exists()
            (tmp / "made-by-ctl").write_text("1")
        assert contents(out) == ["made-by-ctl"]
    with building(tmp_path / "empty", ours) as tmp:  # ours now: replaced, the old content gone
        (tmp / "made-by-ctl").write_text("2")
        (tmp / "result").write_text("new")
    assert contents(tmp_path / "empty") == ["made-by-ctl", "result"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "new"]  # no temporary or old sibling left


def test_an_error_removes_the_temporary_folder_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "made-by-ctl").write_text("old")
    with pytest.raises(RuntimeError, match="stopped"):
        with building(out, ours) as tmp:
            (tmp / "half-written").write_text("x")
            raise RuntimeError("stopped")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "made-by-ctl").read_text() == "old"


def test_a_leftover_temporary_folder_is_removed_only_when_it_is_ours(tmp_path):
    out, leftover = tmp_path / "out", tmp_path / ("out" + PARTIAL_SUFFIX)
    leftover.mkdir()
    (leftover / PARTIAL_MARK).write_text("killed")
    with building(out, ours) as tmp:
        assert not (tmp / "stale").exists()
    assert out.is_dir() and not leftover.exists()  # the leftover of a killed run was cleared
    leftover.mkdir()
    (leftover / "notes.txt").write_text("a folder of the user's that happens to have this name")
    with pytest.raises(ValueError, match="was not made by ctl; ctl needs this name"):
        with building(out, ours):
            pytest.fail("the body must not run")
    assert (leftover / "notes.txt").exists()


def test_an_own_folder_holding_other_files_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "made-by-ctl").write_text("1")
    (out / "notes.txt").write_text("the user's, added later")
    with pytest.raises(ValueError, match=r"ctl made it, but it also holds notes.txt, which ctl did not write"):
        check_output_folder(out, ours, owned_names=("made-by-ctl",))
    check_output_folder(out, ours)  # without a list of its own names any content of a marked folder is its own
    (out / "notes.txt").rename(tmp_path / "notes.txt")
    (out / PARTIAL_MARK).write_text("being replaced")  # left by a swap that was interrupted: ctl's own
    check_output_folder(out, ours, owned_names=("made-by-ctl",))
