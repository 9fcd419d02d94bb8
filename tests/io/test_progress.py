"""contacts.io.progress: a bar on a terminal, plain lines elsewhere, nothing when disabled."""

import io

import pytest
from tqdm.std import tqdm

from contacts.io.progress import LineProgress, progress, track, wrapper


def test_a_terminal_gets_a_bar_a_log_gets_lines_disabled_gets_nothing(capsys):
    bar = progress(range(3), terminal=True)
    assert isinstance(bar, tqdm)
    bar.close()
    assert isinstance(progress(range(3), terminal=False), LineProgress)
    capsys.readouterr()
    assert list(progress(range(3), enable=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_lines_say_done_rate_and_eta_and_never_redraw():
    out = io.StringIO()
    bar = LineProgress(total=4, desc="contacts", unit="seq", interval=0, stream=out)
    with bar:
        for _ in range(4):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert [line.split(" seq done")[0] for line in lines] == ["contacts: 1/4", "contacts: 2/4", "contacts: 3/4",
                                                              "contacts: 4/4", "contacts: 4/4"]
    assert all(" ETA " in line for line in lines[:3]) and " ETA " not in lines[-1]
    assert "\r" not in out.getvalue()


def test_lines_come_at_most_every_interval_and_not_after_an_error():
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt), LineProgress(total=1000, interval=3600, stream=out) as bar:
        for _ in range(500):
            bar.update(1)
        raise KeyboardInterrupt
    assert out.getvalue() == ""  # the interrupt is reported by whoever catches it, on its own line


def test_wrapper_wraps_an_iterable_for_progress_callables(monkeypatch):
    monkeypatch.setenv("CONTACTS_PROGRESS_INTERVAL", "0")
    wrap = wrapper("proteins", "protein", total=2, enable=True)
    stream = wrap(iter("ab"))
    assert isinstance(stream, (LineProgress, tqdm)) and list(stream) == ["a", "b"]


def test_track_follows_the_library_progress_option():
    items = ["a", "b"]
    assert track(items, False) is items
    bar = track(items, True, desc="proteins", unit="protein")
    assert isinstance(bar, tqdm) and bar.desc.startswith("proteins") and list(bar) == items
    bar.close()
    seen = []
    wrapped = track(items, lambda it: seen.append(it) or iter(it))
    assert seen == [items] and list(wrapped) == items


@pytest.mark.parametrize("widgets", [True, False], ids=["ipywidgets", "no-ipywidgets"])
def test_a_notebook_gets_tqdms_widget_bar_or_its_text_bar_and_no_warning(run_notebook, tmp_path, widgets):
    nbformat = pytest.importorskip("nbformat")
    pythonpath = ()
    if not widgets:  # a kernel where ipywidgets cannot be imported, as in a plain `pip install jupyter`
        shadow = tmp_path / "shadow" / "ipywidgets"
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text("raise ImportError('ipywidgets hidden by the test')\n")
        pythonpath = (str(shadow.parent),)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from contacts.io import progress\n"
                                  "for _ in progress.track(range(3), True): pass\n"
                                  "print(progress.tqdm.__module__)"),
        # the negative control: tqdm.auto itself, in the same kernel
        nbformat.v4.new_code_cell("import tqdm.auto"),
    ])
    run_notebook(nb, pythonpath=pythonpath)
    ours, control = ([o for o in cell.outputs if o.output_type == "stream"] for cell in nb.cells)
    assert [o.text for o in ours if o.name == "stdout"] == ["tqdm.notebook\n" if widgets else "tqdm.std\n"]
    assert "Warning" not in "".join(o.text for o in ours if o.name == "stderr")
    warned = "TqdmWarning: IProgress not found" in "".join(o.text for o in control if o.name == "stderr")
    assert warned == (not widgets)
