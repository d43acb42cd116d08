"""The sidebar: retrain the network (settings, progress, cancel, restore) and the collected drawings."""

import streamlit as st

import digitnet
from digitnet.errors import DrawingsError
from digitnet.reading.prediction import Prediction
from digitnet.training.jobs import CANCELLED, FAILED, SUCCEEDED, JobStatus
from ui import keys
from ui.curves import curves_chart
from ui.guard import within_budget
from ui.admin import admin_ui, rerun_when_retrain_starts_or_ends, start_retrain
from ui.resources import collected_drawings, epoch_classifier, get_job, get_store
from ui.style import TOP_COLOUR

IDLE_POLL_SECONDS = 10.0


def sidebar_ui() -> None:
    st.header("Retrain the network")
    allowed = admin_ui("Admin password", "Retraining, restoring and exporting need the admin password.")
    status = get_job().status()
    config = retrain_form_ui(status.running, allowed)
    if config:
        start_retrain(config)
    if get_store().is_retrained():
        if st.button("Restore shipped model", key="restore", disabled=status.running or not allowed,
                     icon=":material/restore:"):
            try:
                get_store().restore_shipped()
            except digitnet.DigitnetError as exc:
                st.error(f"{exc}.")
            else:
                get_job().forget()  # "everyone now uses the new model" is no longer true
                st.session_state[keys.JUST_RESTORED] = True
                st.rerun()
    if st.session_state.pop(keys.JUST_RESTORED, False):
        st.success("Restored the shipped model: everyone now uses it.")
    st.session_state[keys.WATCHED_RUNNING] = status.running
    # Right under the Retrain button. Poll each second while a training runs; otherwise just often
    # enough to notice another session's: every session polls, and a room of 60 at 5 s cost the
    # process about 6% of its core.
    st.fragment(training_watch, run_every=1.0 if status.running else IDLE_POLL_SECONDS)(allowed)
    drawings_ui(allowed)


def retrain_form_ui(job_running: bool, allowed: bool) -> digitnet.TrainConfig | None:
    """The retraining settings, starting from the model in use's, and the button; returns the settings
    when Retrain is clicked."""
    defaults = get_store().settings_in_use()
    epochs = st.number_input("Epochs", 1, 100, defaults.epochs, key="epochs")
    batch_size = st.select_slider("Batch size", [16, 32, 64, 128, 256, 512], defaults.batch_size, key="batch_size")
    hidden_units = st.select_slider("Hidden units per layer", [16, 32, 64, 128, 256, 512], defaults.hidden_units,
                                    key="hidden_units")
    learning_rate = st.number_input("Learning rate", 1e-5, 0.5, defaults.learning_rate, format="%.4f",
                                    key="learning_rate")
    validation_split = st.slider("Validation split", 0.05, 0.5, defaults.validation_split, 0.05,
                                 key="validation_split")
    with st.expander("Advanced"):
        train_subset = st.number_input("Training images (0 = all 60,000)", 0, 60_000, defaults.train_subset,
                                       step=1000, key="train_subset")
        augment = st.checkbox("Distort the training digits at random", defaults.augment, key="augment")
    pen_digits = st.checkbox("Learn from real people's pen digits", defaults.pen_digits, key="pen_digits",
                             help="Digits written with a pen by people MNIST never had, drawn as on this canvas: "
                                  "9s with a curled tail, 7s with a bar, 1s with a flag and a foot.")
    include_drawings = st.checkbox("Include my drawings", defaults.include_drawings, key="include_drawings",
                                   help="Each collected drawing counts as if it were drawn "
                                        f"{defaults.drawing_repeats} times.")
    clicked = st.button("Retrain", key="retrain", type="primary", disabled=job_running or not allowed,
                        icon=":material/model_training:")
    if not clicked:
        return None
    return defaults.replace(epochs=int(epochs), batch_size=int(batch_size), hidden_units=int(hidden_units),
                            learning_rate=float(learning_rate), validation_split=float(validation_split),
                            train_subset=int(train_subset), augment=bool(augment),
                            pen_digits=bool(pen_digits), include_drawings=bool(include_drawings))


def progress_ui(status: JobStatus, allowed: bool) -> None:
    if status.running:
        left = status.seconds_left()
        eta = f", about {left:.0f} s left" if left is not None else ""
        st.progress(status.fraction_done, text=f"Epoch {status.epochs_done} of {status.config.epochs}{eta}")
        st.caption(status.message)
        if status.curves:
            curves_chart(status.curves, "accuracy", height=160)
        learning_ui()
        if st.button("Cancel", key="cancel", disabled=not allowed, icon=":material/cancel:"):
            get_job().cancel()
    elif status.state == SUCCEEDED:
        st.success(status.message)
    elif status.state in (FAILED, CANCELLED):
        st.warning(status.message)


def learning_ui() -> None:
    """Your drawing read by the network after each epoch so far: from guessing to knowing."""
    x = st.session_state.get(keys.CURRENT_INPUT)
    epochs = get_job().files.epoch_files()
    if x is None or not epochs:
        return
    rows = []
    for epoch, path, modified in epochs:
        classifier = epoch_classifier(str(path), modified)
        if classifier is None:
            continue
        prediction = Prediction(classifier.predict_proba(x))
        rows.append(f"<div style='display:flex;align-items:center;gap:6px;font-size:0.8rem'>"
                    f"<span style='width:4.5em'>epoch {epoch}</span><b style='width:1em'>{prediction.digit}</b>"
                    f"<span style='flex:1;background:#eee'><span style='display:block;height:10px;"
                    f"width:{prediction.confidence:.0%};background:{TOP_COLOUR}'></span></span>"
                    f"<span style='width:3em;text-align:right'>{prediction.confidence:.0%}</span></div>")
    st.caption("Your drawing, read after each epoch:")
    st.markdown(f"<div class='epoch-answers'>{''.join(rows)}</div>", unsafe_allow_html=True)


def training_watch(allowed: bool) -> None:
    """Polls the shared job; reruns the whole page when a run starts or ends, so the new model loads."""
    within_budget()
    status = get_job().status()
    rerun_when_retrain_starts_or_ends(status.running)
    with st.container(key="training"):
        progress_ui(status, allowed)


def drawings_ui(allowed: bool) -> None:
    """How many drawings have been collected per digit; export them or delete them."""
    st.subheader("Collected drawings")
    try:
        counts = collected_drawings().counts()
    except DrawingsError as exc:  # kept in a database server that cannot be reached just now
        st.warning(f"{exc}.")
        return
    total = sum(counts)
    st.container(key="drawings-count").caption(
        f"{total} drawing{'' if total == 1 else 's'}: " + ", ".join(f"{d}: {n}" for d, n in enumerate(counts)))
    if not total:
        return
    # A callable: the drawings are read only when someone clicks, not on every rerun.
    st.download_button("Export as .npz (MNIST layout)", collected_drawings().export_npz, "drawings.npz",
                       key="export", icon=":material/download:", disabled=not allowed)
    sure = st.checkbox("Yes, delete them all", key="confirm_delete")
    if st.button("Delete drawings", key="delete_drawings", disabled=not (sure and allowed),
                 icon=":material/delete_forever:"):
        try:
            collected_drawings().delete_all()
        except DrawingsError as exc:
            st.error(f"{exc}.")
            return
        st.rerun()
