"""The page under Streamlit's AppTest, with a stand-in for the drawing canvas component."""

import base64
import io
import json
import re
import sys
import time
import types

import numpy as np
import pytest
import streamlit as st
from conftest import ROOT, as_canvas, corrupt_store, stroke_image, unavailable
from PIL import Image
from streamlit.testing.v1 import AppTest
from waiting import TIMEOUT_S as TIMEOUT, eventually

from digitnet.config import DRAWINGS_ENV
from digitnet.state.auth import ADMIN_PASSWORD_ENV
from digitnet.state.limits import RerunBudget
from digitnet.state.store import RETRAINED_ENV
from ui import keys



class FakeCanvas:
    """Stands in for streamlit_drawable_canvas, which needs a browser: returns the drawing we set, as the
    PNG the real one sends, or `sent` (what a forged message could carry) when that is set."""

    def __init__(self):
        self.image = None
        self.sent = None
        self.calls = []

    def st_canvas(self, **kwargs):
        self.calls.append(kwargs)
        if self.sent is not None:
            return types.SimpleNamespace(image_bytes=self.sent)
        return types.SimpleNamespace(image_bytes=None if self.image is None else self.png())

    def png(self) -> bytes:
        png = io.BytesIO()
        Image.fromarray(self.image if self.image is not None else np.zeros((280, 280, 4), np.uint8)).save(png, "PNG")
        return png.getvalue()

    def pad(self, key: str, data: dict, on_send_change) -> None:
        """Stands in for ui/pad.js' component: its Send is a button that sends the drawing we set as the
        real pad does, a PNG's data URL (or `sent`, as it is, when that is set)."""
        self.calls.append({"key": key, **data})

        def pressed() -> None:
            sent = self.sent if self.sent is not None else self.png()
            st.session_state[key] = {"send": "data:image/png;base64," + base64.b64encode(sent).decode()
                                     if isinstance(sent, bytes) else sent}
            on_send_change()

        st.button("Send to the screen", key="send", on_click=pressed)


@pytest.fixture
def canvas(monkeypatch, tmp_path, tiny_mnist):
    fake = FakeCanvas()
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = fake.st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    for name in [name for name in sys.modules if name == "ui" or name.startswith("ui.")]:
        monkeypatch.delitem(sys.modules, name)  # the page's sections import the stand-in afresh
    import ui.pad  # the module the page will import, with the phone's pad a stand-in

    monkeypatch.setattr(ui.pad, "_pad", fake.pad)
    monkeypatch.setenv(RETRAINED_ENV, str(tmp_path / "retrained"))
    monkeypatch.setenv(DRAWINGS_ENV, str(tmp_path / "drawings"))
    monkeypatch.delenv(ADMIN_PASSWORD_ENV, raising=False)
    st.cache_resource.clear()  # a fresh model store and training job for each test, as in a new server
    return fake


def slow_data_file(path, tiny_mnist):
    """A data file big enough that 100 epochs of batch 16 run for minutes, until the test cancels."""
    np.savez(path, x_train=np.tile(tiny_mnist.x_train, (20, 1, 1)), y_train=np.tile(tiny_mnist.y_train, 20),
             x_test=tiny_mnist.x_test, y_test=tiny_mnist.y_test)
    return path


def new_app() -> AppTest:
    """The page, for a test that clicks faster than any person: its run budget is unlimited."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state[keys.RERUN_BUDGET] = RerunBudget(rate=1e9, burst=1e9, tokens=1e9)
    return at


def run_app(view: str = "Draw") -> AppTest:
    """The page run once, with the tab `view` open."""
    at = new_app()
    at.session_state[keys.VIEW] = view
    at.run()
    assert not at.exception, at.exception
    return at


def start_long_retrain(at: AppTest) -> None:
    """Click Retrain with 100 epochs of batch 16: on slow_data_file it runs until cancelled."""
    at.checkbox(key="pen_digits").uncheck()
    at.number_input(key="epochs").set_value(100)
    at.select_slider(key="batch_size").set_value(16)
    at.button(key="retrain").click().run()


def wait_until_idle(at: AppTest) -> None:
    """Rerun the page until no training runs, then once more so every panel shows the final state."""
    eventually(lambda: not at.run().button(key="retrain").disabled, "the retrain to end", every=0.5)
    at.run()


def run_with_switch_on(canvas, switch: str, digit: str) -> AppTest:
    """The page with `digit` drawn and the switch keyed `switch` turned on."""
    canvas.image = as_canvas(stroke_image(digit))
    at = run_app()
    at.toggle(key=switch).set_value(True).run()
    assert not at.exception
    return at


def words(block) -> str:
    """Every text, message and caption in a block of the page (the page itself, or a section of it)."""
    parts = [m.value for m in block.markdown] + [e.value for e in block.info] + [e.value for e in block.error]
    parts += [e.value for e in block.warning] + [e.value for e in block.success] + [c.value for c in block.caption]
    return "\n".join(str(p) for p in parts)


def section(at: AppTest, key: str) -> str:
    """The words of the page's section in the container keyed `key`."""
    return words(at.get_by_key(key))


def image_captions(at: AppTest, key: str) -> list[str]:
    """The captions of the images in the page's section keyed `key`, in order."""
    return [caption for image in at.get_by_key(key).image for caption in image.captions]


def test_blank_page_prompts_to_draw(canvas):
    at = run_app()
    assert "Draw a digit from 0 to 9" in at.info[0].value
    assert not at.error
    call = canvas.calls[-1]
    assert call["return_image_data"] is True
    assert call["width"] >= 280 and call["height"] >= 280
    assert call["key"].startswith("canvas-")
    assert [tab.label for tab in at.tabs] == ["Draw", "How it learned", "How good is it"]
    assert "How it learned: accuracy after each of its" in words(at)  # the small chart beside the answer
    with pytest.raises(KeyError):
        at.get_by_key("model-card")  # the other tabs do not run until they are opened


def test_the_tab_how_it_learned_shows_the_curves_and_the_model_card(canvas):
    at = run_app("How it learned")
    assert re.search(r"\*\*Test accuracy on 10,000 MNIST digits:\*\* \d\d\.\d\d%", section(at, "model-card"))
    assert len(at.get_by_key("curves").get("vega_lite_chart")) == 2
    assert canvas.calls  # the Draw tab's canvas is drawn on every run: its drawing lives on


def test_blank_canvas_is_a_prompt_not_an_error(canvas):
    canvas.image = as_canvas(np.zeros((280, 280), np.uint8))
    at = run_app()
    assert "Draw a digit" in at.info[0].value
    assert not at.error


@pytest.mark.parametrize("digit", ["1", "0", "7"])
def test_a_drawing_is_read(canvas, digit):
    canvas.image = as_canvas(stroke_image(digit))
    at = run_app()
    answer = section(at, "answer")
    assert f"this is a {digit}." in answer or f"most like a {digit}" in answer
    big_answer = next(m.value for m in at.markdown if "data-testid='digit-answer'" in m.value)
    assert re.search(r"class='digit-answer'[^>]*>(\d)</div>", big_answer).group(1) == digit  # the digit, once
    picture = next(m.value for m in at.markdown if "network-input" in m.value)  # the 28x28 input, inline
    assert "What the network sees: 28 x 28 pixels" in picture and "src='data:image/png;base64," in picture
    bars = next(m.value for m in at.markdown if "probability-bars" in m.value)
    assert bars.count("%</span>") == 10  # the ten probabilities
    top = re.findall(r"class='pbar top'>.*?<b>(\d)</b>", bars)
    assert top == [digit]  # the answer's bar, and only it, marked


def test_clear_gives_a_new_empty_canvas(canvas):
    canvas.image = as_canvas(stroke_image("7"))
    at = run_app()
    first_key = canvas.calls[-1]["key"]
    canvas.image = None
    at.button(key="clear").click().run()
    assert canvas.calls[-1]["key"] != first_key


def test_upload_of_a_non_image_shows_an_error(canvas):
    at = run_app()
    at.segmented_control(key="source").set_value("Upload a photo").run()
    assert "Upload a photo or a scan of one handwritten digit" in section(at, "answer")
    at.file_uploader(key="upload").upload("digit.png", b"definitely not a png", "image/png").run()
    assert not at.exception
    assert "not an image" in at.error[0].value
    assert section(at, "answer") == ""  # no invitation beside the error


def test_upload_of_a_photo_is_read(canvas):
    buffer = io.BytesIO()
    Image.fromarray(255 - stroke_image("1")).save(buffer, format="PNG")
    at = run_app()
    at.segmented_control(key="source").set_value("Upload a photo").run()
    at.file_uploader(key="upload").upload("one.png", buffer.getvalue(), "image/png").run()
    answer = section(at, "answer")
    assert "this is a 1." in answer or "most like a 1" in answer


def test_password_gate(canvas, monkeypatch):
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "s3cret-pw")
    at = run_app()
    assert at.button(key="retrain").disabled
    assert not at.error
    at.text_input(key="password").input("wrong").run()
    assert at.button(key="retrain").disabled
    assert [e.value for e in at.error] == ["Wrong password."]
    at.text_input(key="password").input("s3cret-pw").run()
    assert not at.button(key="retrain").disabled
    assert not at.error
    assert "s3cret-pw" not in words(at)


@pytest.mark.training
def test_retrain_controls_are_disabled_while_a_job_runs(canvas, monkeypatch, tmp_path, tiny_mnist):
    monkeypatch.setenv("DIGITNET_MNIST", str(slow_data_file(tmp_path / "slow.npz", tiny_mnist)))
    at = run_app()
    start_long_retrain(at)
    assert not at.exception
    assert at.button(key="retrain").disabled, section(at, "training")
    assert at.progress[0].text.startswith("Epoch ")
    at.button(key="cancel").click().run()
    wait_until_idle(at)
    assert "cancelled" in section(at, "training")


def test_a_broken_retrained_model_falls_back_to_the_shipped_one(canvas, tmp_path):
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    (retrained / "digitnet.npz").write_bytes(b"PK\x03\x04 half a model")
    canvas.image = as_canvas(stroke_image("7"))
    at = run_app()
    assert any("could not be loaded" in warning.value for warning in at.warning)
    answer = section(at, "answer")
    assert "this is a 7." in answer or "most like a 7" in answer


def test_a_corrupt_history_still_shows_the_page(canvas, tmp_path):
    from digitnet.config import SHIPPED_MODEL

    retrained = tmp_path / "retrained"
    retrained.mkdir()
    (retrained / "digitnet.keras").write_bytes(SHIPPED_MODEL.read_bytes())
    (retrained / "digitnet.npz").write_bytes(SHIPPED_MODEL.with_suffix(".npz").read_bytes())
    (retrained / "history.json").write_text("{not json")
    at = run_app("How it learned")
    assert any(w.value.startswith("No training curves to show: The training history") for w in at.warning)
    assert section(at, "curves") == "This model has no training history to show."
    assert "**Epochs:** unknown" in section(at, "model-card")


@pytest.mark.training
def test_bad_data_makes_the_sidebar_retrain_fail_clearly(canvas, monkeypatch, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((4, 28, 28), np.uint8))
    monkeypatch.setenv("DIGITNET_MNIST", str(bad))
    at = run_app()
    at.button(key="retrain").click().run()
    eventually(lambda: "Training failed" in section(at.run(), "training"), "the retrain to fail", every=0.3)
    assert "lacks the array(s) y_train, x_test, y_test" in section(at, "training")
    assert "unchanged" in section(at, "training")
    assert not (tmp_path / "retrained" / "digitnet.keras").exists()


def test_a_second_session_sees_the_training_and_cannot_start_another(canvas, monkeypatch, tmp_path, tiny_mnist):
    monkeypatch.setenv("DIGITNET_MNIST", str(slow_data_file(tmp_path / "slow.npz", tiny_mnist)))
    first = run_app()
    start_long_retrain(first)
    second = run_app()
    assert second.button(key="retrain").disabled, section(second, "training")
    assert second.progress[0].text.startswith("Epoch ")
    first.button(key="cancel").click().run()
    wait_until_idle(first)


def test_password_never_reaches_the_page_or_the_logs(canvas, monkeypatch, caplog):
    caplog.set_level("DEBUG")
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "hunter2-pw")
    at = run_app()
    at.text_input(key="password").input("hunter2-pw").run()
    at.text_input(key="password").input("wrong-guess").run()
    assert "hunter2-pw" not in words(at)
    assert "hunter2-pw" not in caplog.text
    assert at.button(key="retrain").disabled


def test_presenter_mode_from_the_url_shows_only_the_big_answer(canvas):
    canvas.image = as_canvas(stroke_image("7", size=440, box=(150, 90, 290, 350), width=30))
    at = new_app()
    at.query_params["presenter"] = "1"
    at.run()
    assert not at.exception
    assert at.toggle(key="presenter").value is True
    assert any("digit-answer" in m.value and "role='status'" in m.value for m in at.markdown)
    assert not at.sidebar.button  # no retrain controls
    assert not any("What the network sees" in c for image in at.image for c in image.captions)  # no 28x28 preview
    assert at.session_state[keys.VIEW] == "Draw"  # the tab bar is hidden: Draw only
    # Inside the network, in its simple form: the picture and its plain words, no neuron picker.
    assert "Inside the network" in [h.value for h in at.subheader]
    assert "strongest pushes towards 7" in section(at, "network")
    picture = [m.value for m in at.get_by_key("network-picture").markdown]  # an <img> with alternative text
    assert len(picture) == 1 and "alt='The network reading your drawing" in picture[0] and "7 is lit" in picture[0]
    assert not at.radio and not at.selectbox


def test_switching_presenter_mode_keeps_the_drawing(canvas):
    canvas.image = as_canvas(stroke_image("7"))
    at = run_app()
    page_canvas = canvas.calls[-1]
    at.toggle(key="presenter").set_value(True).run()
    assert not at.exception
    # The same canvas, shown larger by the presenter's CSS: the widget and its drawing live on.
    assert canvas.calls[-1] == page_canvas
    assert any(">7</div>" in m.value for m in at.markdown if "digit-answer" in m.value)


def test_several_digits_are_read_as_a_number(canvas):
    from test_segment import number_drawing

    at = run_app()
    canvas.image = number_drawing("1071", width=720, height=240)
    at.segmented_control(key="source").set_value("Several digits").run()
    assert canvas.calls[-1]["width"] >= 700
    answers = [m.value for m in at.markdown if "data-testid='digit-answer'" in m.value]
    assert answers and ">1071</div>" in answers[0]
    sureness = [m.value for m in at.markdown if "digits-sureness" in m.value]
    assert sureness and sureness[0].count("sure</div>") == 4  # one card per digit read


def test_why_this_answer_shows_saliency_and_look_alikes(canvas, monkeypatch, mnist_path):
    monkeypatch.setenv("DIGITNET_MNIST", str(mnist_path))
    at = run_with_switch_on(canvas, "explain", "0")
    saliency, *alike = image_captions(at, "why")
    assert saliency == "Orange pixels made it say 0; blue ones argued against it."
    assert len(alike) == 8 and alike.count("a 0") >= 5  # most look-alikes of a drawn 0 are zeros
    assert "It thinks your 0 looks like these training digits:" in section(at, "why")


@pytest.mark.postgres
def test_a_database_out_of_reach_costs_the_page_only_what_it_keeps_there(canvas, monkeypatch):
    from digitnet.replicas import free_port
    from digitnet.state.database import DATABASE_ENV

    monkeypatch.setenv(DATABASE_ENV, f"postgresql://digitnet@127.0.0.1:{free_port()}/digits")  # nothing listens
    canvas.image = as_canvas(stroke_image("7"))
    at = run_app()
    answer = section(at, "answer")
    assert "this is a 7." in answer or "most like a 7" in answer  # an answer needs no database
    assert [w.value for w in at.warning] == [
        "The drawings cannot be counted just now (the database server cannot be reached): try again in a moment."]
    at.button(key="confirm").click().run()
    assert not at.exception and [e.value for e in at.error] == [
        "The drawings cannot be saved just now (the database server cannot be reached): try again in a moment."]


def test_confirming_and_correcting_save_labelled_drawings_once(canvas, monkeypatch, tmp_path):
    monkeypatch.setenv(DRAWINGS_ENV, str(tmp_path / "drawings"))
    canvas.image = as_canvas(stroke_image("7"))
    at = run_app()
    assert section(at, "drawings-count").startswith("0 drawings: 0: 0, 1: 0")
    at.button(key="confirm").click().run()
    assert len(list((tmp_path / "drawings" / "digits" / "7").glob("*.png"))) == 1
    assert len(list((tmp_path / "drawings" / "originals" / "7").glob("*.png"))) == 1
    assert section(at, "drawings-count").startswith("1 drawing: ") and "7: 1" in section(at, "drawings-count")
    # The same drawing is not asked about again: it cannot be saved twice under two labels.
    assert at.success[0].value.startswith("Saved as a 7.")
    assert not [b for b in at.button if b.key in ("confirm", "save_correction")]
    canvas.image = as_canvas(stroke_image("1"))  # a new drawing is a new question
    at.run()
    at.selectbox(key="correct_label").set_value(1).run()
    at.button(key="save_correction").click().run()
    assert len(list((tmp_path / "drawings" / "digits" / "1").glob("*.png"))) == 1
    assert section(at, "drawings-count").startswith("2 drawings: ")
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_drawings").click().run()
    assert section(at, "drawings-count").startswith("0 drawings: ")


def test_a_dot_is_refused_with_its_reason(canvas):
    dot = np.zeros((280, 280), np.uint8)
    dot[130:150, 130:150] = 255
    canvas.image = as_canvas(dot)
    at = run_app()
    assert at.info[0].value == "That looks like a dot or a blob, not a digit: draw a digit from 0 to 9."


def test_restoring_the_shipped_model_says_so(canvas, tmp_path):
    from digitnet.config import SHIPPED_MODEL
    from digitnet.training.jobs import SUCCEEDED, JobFiles, JobStatus

    retrained = tmp_path / "retrained"
    retrained.mkdir()
    for suffix in (".keras", ".npz"):
        (retrained / f"digitnet{suffix}").write_bytes(SHIPPED_MODEL.with_suffix(suffix).read_bytes())
    JobFiles(retrained).write(JobStatus(state=SUCCEEDED, message="Done: ... Everyone now uses the new model."))
    at = run_app()
    assert "Everyone now uses the new model" in section(at, "training")
    at.button(key="restore").click().run()
    assert "Restored the shipped model: everyone now uses it." in [s.value for s in at.success]
    assert "Everyone now uses the new model" not in words(at)
    assert not (retrained / "digitnet.npz").exists()


def test_evaluation_panel_and_a_mistake_shown_as_the_input(canvas, monkeypatch, mnist_path):
    monkeypatch.setenv("DIGITNET_MNIST", str(mnist_path))
    at = run_app("How good is it")
    assert any("over all 10,000 test digits" in c.value for c in at.caption)
    charts = at.get_by_key("evaluation").get("vega_lite_chart")
    assert len(charts) == 3  # per digit on MNIST, the confusion matrix, per digit on real people
    confusion = next(json.loads(c.proto.spec) for c in charts if '"read as"' in c.proto.spec)
    for layer in confusion["layer"]:  # no label dropped for crowding: all ten rows and columns named
        encoding = layer.get("encoding", confusion.get("encoding"))
        assert encoding["y"]["axis"]["labelOverlap"] is False and encoding["x"]["axis"]["labelOverlap"] is False
    first_mistake = at.selectbox(key="mistake").value
    at.button(key="show_mistake").click().run()
    assert not at.exception
    assert at.session_state[keys.VIEW] == "Draw"
    assert at.segmented_control(key="source").value == "A test digit"
    assert f"Test digit #{first_mistake}, labelled" in " ".join(c for image in at.image for c in image.captions)
    assert any("data-testid='digit-answer'" in m.value for m in at.markdown)


def test_why_this_answer_stays_on_across_clear(canvas, monkeypatch, mnist_path):
    monkeypatch.setenv("DIGITNET_MNIST", str(mnist_path))
    canvas.image = as_canvas(stroke_image("0"))
    at = run_app()
    at.toggle(key="explain").set_value(True).run()
    assert "It thinks your 0 looks like" in section(at, "why")
    canvas.image = None
    at.button(key="clear").click().run()  # no drawing: the switch is not shown on this run
    assert "explain" not in [toggle.key for toggle in at.toggle]
    canvas.image = as_canvas(stroke_image("7"))
    at.run()
    assert at.toggle(key="explain").value is True


def test_a_test_digit_can_be_stepped_through_its_mistakes(canvas, monkeypatch, mnist_path):
    import re

    monkeypatch.setenv("DIGITNET_MNIST", str(mnist_path))
    at = run_app()
    at.segmented_control(key="source").set_value("A test digit").run()

    def shown() -> int:
        captions = " ".join(c for image in at.image for c in image.captions)
        return int(re.search(r"Test digit #(\d+)", captions).group(1))

    first = shown()
    at.button(key="next_mistake").click().run()
    assert shown() > first
    big_answer = next(m.value for m in at.markdown if "data-testid='digit-answer'" in m.value)
    assert "aria-label='I&#x27;m" in big_answer  # it is read, not refused


def test_inside_the_network_shows_the_network_and_one_neuron(canvas, monkeypatch, mnist_path):
    monkeypatch.setenv("DIGITNET_MNIST", str(mnist_path))
    at = run_with_switch_on(canvas, "inside", "7")
    network, neuron = image_captions(at, "network")
    assert "strongest pushes towards 7" in network
    assert neuron.startswith("What it looks for: ink on orange pixels excites it") and "For your drawing, neuron #" in neuron
    at.radio(key="neuron_layer").set_value("hidden 2").run()
    assert "The training digits that excite it most." in section(at, "network")
    assert len(image_captions(at, "network")) == 1 + 8  # the network, and the digits that excite it


def test_presenter_says_each_new_answer_aloud_once(canvas):
    canvas.image = as_canvas(stroke_image("7", size=440, box=(150, 90, 290, 350), width=30))
    at = new_app()
    at.query_params["presenter"] = "1"
    at.run()
    spoken = lambda: [str(e.proto) for e in at.get("iframe")]
    assert spoken() == []  # silent until asked
    at.toggle(key="speak").set_value(True).run()
    assert len(spoken()) == 1 and "I think it\\'s a seven." in spoken()[0]
    at.run()  # the same answer again: nothing more is said
    assert spoken() == []
    canvas.image = as_canvas(stroke_image("1", size=440, box=(150, 90, 290, 350), width=30))
    at.run()
    assert len(spoken()) == 1 and "a one" in spoken()[0]


@pytest.mark.parametrize("form", ["desk", "phone"])
@pytest.mark.parametrize("sent", [b"not a png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "a string", 12, "huge"])
def test_a_forged_drawing_is_refused_unread_with_a_message(canvas, sent, form, tmp_path):
    """On the Draw page, and on a room's phone, whose drawings a child process reads."""
    if sent == "huge":  # 13000 x 13000 pixels in a small file: refused from its header, never decoded
        png = io.BytesIO()
        Image.new("L", (13000, 13000)).save(png, "PNG")
        sent = png.getvalue()
    canvas.sent = sent
    at = new_app()
    if form == "phone":
        from digitnet.state.room import Rooms

        at.query_params["room"] = Rooms(tmp_path / "drawings" / "rooms.sqlite3").open()
        at.session_state[keys.JOINED] = time.time() - 60  # no wait to send
        at.run()
        at.button(key="send").click()  # a phone's drawing reaches the server only when it is sent
    at.run()
    assert not at.exception, at.exception
    assert at.warning[0].value == "That drawing could not be read: clear the canvas and draw again."
    assert not any("data-testid='digit-answer'" in m.value for m in at.markdown)


def test_a_session_asking_for_runs_faster_than_a_person_could_is_stopped_and_says_nothing():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state[keys.RERUN_BUDGET] = RerunBudget(rate=1e-6, burst=1, tokens=1)
    at.run()  # the one run the budget allows: the whole page
    assert not at.exception and at.title
    started = time.monotonic()
    at.run()  # a second at once: refused after a pause, drawing nothing
    assert time.monotonic() - started >= 1.0
    assert not at.exception and not at.title and not at.markdown


def projector_in_a_room() -> tuple[AppTest, str]:
    """A presenter's page that started a room, and the room's code."""
    at = new_app()
    at.query_params["presenter"] = "1"
    at.run()
    at.button(key="start_room").click().run()
    return at, at.session_state[keys.ROOM]


def phone_joined_a_minute_ago(rooms, code: str) -> AppTest:
    """A phone's page in room `code` that joined a minute ago, run once: it may send at once."""
    phone = new_app()
    phone.query_params["room"] = code
    phone.session_state[keys.PHONE] = "phone"
    rooms.join(code, "phone", now=time.time() - 60)
    phone.session_state[keys.JOINED] = time.time() - 60
    phone.run()
    return phone


def test_a_phone_that_reloads_comes_back_as_the_same_phone(canvas, tmp_path):
    from digitnet.state.room import Rooms

    rooms = Rooms(tmp_path / "drawings" / "rooms.sqlite3")
    code = rooms.open()
    canvas.image = as_canvas(stroke_image("7"))
    first = new_app()
    first.query_params["room"] = code
    first.run()
    token = first.query_params["phone"]
    first.button(key="send").click().run()  # waits out the room's few seconds after joining
    assert first.success[0].value.startswith("Sent: your 7")
    again = new_app()  # the same address in a new session: a reload
    again.query_params["room"], again.query_params["phone"] = code, token
    canvas.image = as_canvas(stroke_image("7", width=14))
    again.run()
    assert again.session_state[keys.JOINED] == first.session_state[keys.JOINED]  # no new wait to send
    again.button(key="send").click().run()
    assert again.warning[0].value.startswith("One drawing every 2 seconds")  # and its pace is kept
    assert rooms.state(code).people == 1
    forged = new_app()  # an address with something else in it is a new phone, not a way in
    forged.query_params["room"], forged.query_params["phone"] = code, "x' OR 1=1"
    forged.run()
    assert forged.session_state[keys.PHONE] != "x' OR 1=1" and len(forged.session_state[keys.PHONE]) == 16


def test_a_phone_with_a_wrong_room_code_is_told_so(canvas):
    at = new_app()
    at.query_params["room"] = "zzz zzz"
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "There is no open room ZZZZZZ: check the code on the screen, or ask the presenter for the new one."]
    assert not canvas.calls  # no canvas to draw on for a room that is not there


def test_a_phone_in_a_room_whose_store_broke_is_told_so(canvas, tmp_path):
    from digitnet.state.room import Rooms

    rooms = Rooms(tmp_path / "drawings" / "rooms.sqlite3")  # where the page's store is: DIGITNET_DRAWINGS_DIR
    code = rooms.open()
    corrupt_store(rooms.path)
    at = new_app()
    at.query_params["room"] = code
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("The rooms' store cannot be used (")
    assert not canvas.calls


def test_a_wall_whose_store_broke_says_so_and_the_presenter_can_leave_the_room(canvas):
    at = new_app()
    at.query_params["presenter"] = "1"
    at.run()
    at.button(key="start_room").click().run()
    assert not at.exception and at.session_state[keys.ROOM]
    from ui.resources import get_rooms

    path = get_rooms().path  # the page's store
    corrupt_store(path)
    at.run()
    assert not at.exception
    assert [e.value.split(" (")[0] for e in at.error] == ["The rooms' store cannot be used"] * 2  # controls, wall
    assert not at.warning  # a corrupt file stays so: nothing says it is coming back
    at.button(key="end_room").click().run()
    assert not at.exception and keys.ROOM not in at.session_state
    assert at.button(key="start_room")


def test_a_projector_that_reloads_gets_its_room_back_until_it_ends(canvas):
    at, code = projector_in_a_room()
    assert at.query_params["wall"] == code
    reloaded = new_app()  # a new session with the same address, as after a reload or a server restart
    reloaded.query_params.update({"presenter": "1", "wall": code})
    reloaded.run()
    assert not reloaded.exception and reloaded.session_state[keys.ROOM] == code
    assert any(f"<b class='room-code'>{code[:3]}<span>{code[3:]}</span></b>" in m.value for m in reloaded.markdown)
    reloaded.button(key="end_room").click().run()
    assert "wall" not in reloaded.query_params and keys.ROOM not in reloaded.session_state
    again = new_app()
    again.query_params.update({"presenter": "1", "wall": code})
    again.run()  # an ended room is not resumed: Start a room again
    assert not again.exception and keys.ROOM not in again.session_state and again.button(key="start_room")
    assert "wall" not in again.query_params


def test_a_forged_room_code_is_never_shown_back(canvas):
    at = new_app()
    at.query_params["room"] = "[Win a prize](https://example.org/win)"
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["There is no room with that code: check the code on the screen."]


def test_a_phone_in_a_room_sends_its_drawing_to_the_wall_once_every_two_seconds(canvas, tmp_path):
    from digitnet.state.room import Rooms

    rooms = Rooms(tmp_path / "drawings" / "rooms.sqlite3")  # where the page's store is: DIGITNET_DRAWINGS_DIR
    code = rooms.open()
    rooms.set_prompt(code, 7)
    canvas.image = as_canvas(stroke_image("7"))
    at = new_app()
    at.query_params["room"] = code
    at.run()
    assert "Everyone draw a 7, then send it to the screen." in words(at)
    at.button(key="send").click().run()  # at once after joining: the page waits out the room's few seconds
    assert time.time() >= at.session_state[keys.JOINED] + rooms.limits.join_wait_s  # (from when it joined)
    assert at.success[0].value == "Sent: your 7 is on the screen. Draw another!"
    assert canvas.calls[-1]["cleared"] == 1 and canvas.calls[-1]["sends"] == 1  # a fresh pad, its Send back
    state = rooms.state(code)
    assert (state.people, state.drawings, state.read_right) == (1, 1, 1) and state.tiles[0].answer == 7
    at.button(key="send").click().run()  # the same drawing again (a second click): sent, and kept once
    assert at.success[0].value == "Sent: your 7 is on the screen. Draw another!"
    assert rooms.state(code).drawings == 1
    canvas.image = as_canvas(stroke_image("7", width=14))  # a new drawing at once: refused
    at.run()
    at.button(key="send").click().run()
    assert at.warning[0].value.startswith("One drawing every 2 seconds")
    assert rooms.state(code).drawings == 1


def test_a_paused_room_tells_its_phones_and_takes_nothing_until_it_goes_on(canvas, tmp_path):
    at, code = projector_in_a_room()
    at.button(key="pause_room").click().run()
    assert "Paused: phones wait" in words(at)
    canvas.image = as_canvas(stroke_image("7"))
    phone = new_app()
    phone.query_params["room"] = code
    phone.session_state[keys.JOINED] = time.time() - 60  # joined a minute ago: no wait
    phone.run()
    assert "Paused: the presenter will say when to send again." in words(phone)
    phone.button(key="send").click().run()
    assert phone.warning[0].value.startswith("The presenter has paused the room")
    at.button(key="pause_room").click().run()  # Go on
    assert "Draw any digit" in words(at)
    from ui.resources import get_rooms

    assert get_rooms().state(code).drawings == 0


def test_the_wall_clears_and_forgets_and_hides_all_of_one_phone(canvas, tmp_path):
    from digitnet.state.room import UNLIMITED, Rooms

    at, code = projector_in_a_room()
    rooms = Rooms(tmp_path / "drawings" / "rooms.sqlite3", UNLIMITED)
    x = np.zeros((28, 28), np.float32)
    x[4:24, 13:15] = 1.0
    troll = [rooms.send(code, "troll", x, 1, 0.9) for _ in range(3)]
    kind = rooms.send(code, "kind", x, 1, 0.9)
    at.run()
    at.toggle(key=keys.HIDE_PHONE).set_value(True)
    at.button_group(key=f"hide-{kind}").set_value(troll[0]).run()
    assert not at.exception and rooms.state(code).drawings == 1
    assert [t.id for t in rooms.state(code).tiles] == [kind]
    at.button(key="forget_wall").click().run()
    assert not at.exception and rooms.state(code).drawings == 0 and len(rooms.labelled(code)[0]) == 0

@pytest.mark.postgres
def test_a_database_server_that_restarts_costs_the_room_s_pages_nothing(canvas, monkeypatch):
    """PostgreSQL stopped as a crash would, then started again, while a phone sends and the wall shows."""
    from postgres import Cluster, server_binaries
    from waiting import eventually

    from digitnet.state.database import DATABASE_ENV
    from digitnet.state.room import UNLIMITED, Rooms
    from ui.phone import NOT_SENT, OUT_OF_REACH
    from ui.wall import RECONNECTING

    binaries = server_binaries()
    if binaries is None:
        unavailable("PostgreSQL not found: install it with `sudo apt-get install -y postgresql`")
    own = Cluster(*binaries)  # a cluster of its own, to stop
    try:
        monkeypatch.setenv(DATABASE_ENV, own.database())
        at, code = projector_in_a_room()
        rooms = Rooms(limits=UNLIMITED)
        canvas.image = as_canvas(stroke_image("7"))
        phone = phone_joined_a_minute_ago(rooms, code)
        phone.button(key="send").click().run()
        assert phone.success[0].value.startswith("Sent: your 7 is on the screen")
        at.run()
        canvas.image = as_canvas(stroke_image("7", width=14))  # the phone's next drawing
        phone.run()
        first = rooms.state(code).tiles[0].id
        own.stop_server()
        at.run()
        assert not at.exception and [w.value for w in at.warning] == [RECONNECTING]
        assert at.button_group(key=f"hide-{first}")  # the wall still shows what it had
        phone.button(key="send").click().run()
        assert not phone.exception and [w.value for w in phone.warning] == [OUT_OF_REACH, NOT_SENT]
        own.start_server()

        def sent() -> bool:
            phone.button(key="send").click().run()
            return bool(phone.success) and phone.success[0].value.startswith("Sent: your 7 is on the screen")

        eventually(sent, "a send to be taken again", every=0.5)  # at most one every 2 s, as always
        at.run()
        assert not at.exception and not at.warning and rooms.state(code).drawings == 2
    finally:
        own.stop()
