"""Results: how the selected run learned, and what it confuses, epoch by epoch."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cifar.launch import launcher
from cifar.network.build import how_tested, test_passes
from cifar.study import evaluate
from cifar.study.changes import changes, changes_table, marks
from cifar.study.charts import confusion_figure, history_figure, selected_cell
from cifar.study.compare import held_out, scored_on
from cifar.study.gallery import enlarge
from pages.parts.results_flip import try_flip
from pages.shared.common import config_of, dataset, no_run_yet, selected_run, test_images, use_app_navigation
from pages.shared.looking import looked_images, pick_and_look_inside, where_it_looked
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Results")
run = selected_run()
if run is None or not run.prediction_epochs():
    if run is not None:
        st.info(f"Run **{run.id}** has no finished epoch yet: its results appear here after the first one.")
    else:
        no_run_yet()
    st.stop()

status, history, epochs = launcher.status(run), run.history(), run.prediction_epochs()
names = run.class_names()
parent, continued_after = status.resumed_from, status.start_epoch
continues = f" · continues {parent} after its epoch {continued_after}" if parent else ""
where = (
    f" · trained on {status.machine}" + (f" in {status.precision}" if status.precision else "")
    if status.machine
    else ""
)
st.caption(f"Run **{run.id}** · {status.state} · {len(epochs)} of {status.epochs or '?'} epochs{continues}{where}")
if status.notice:
    st.info(status.notice)
changed = changes(run.events()[0])
tested_on = scored_on(run)
accuracy_column, loss_column = st.columns(2)
for column, metric in ((accuracy_column, "accuracy"), (loss_column, "loss")):
    figure = history_figure(history, metric, continued_after, marks(changed), tested_on)
    column.plotly_chart(figure, key=f"{metric}_curve")
if changed:
    st.caption(
        "What was asked of the training while it ran, and what it did; dashed lines on the curves mark the changes."
    )
    st.dataframe(
        changes_table(changed),
        hide_index=True,
        key="changes",
        column_config={"time": st.column_config.DatetimeColumn(format="HH:mm:ss", help="In UTC")},
    )

epoch = epochs[-1]
if len(epochs) > 1:
    epoch = st.select_slider("Epoch (replay how the confusion matrix formed)", epochs, value=epochs[-1], key="epoch")
labels, probabilities = run.labels(), run.predictions(epoch).astype("float32")
report = evaluate.summarize(labels, probabilities, names)
test_accuracy, test_loss = st.columns(2)
config = config_of(run)
tested = how_tested(config) if config else ""
scored = "Held-out" if held_out(run) else "Test"
test_accuracy.metric(f"{scored} accuracy", f"{report['test_accuracy']:.1%}", help=tested or None)
test_loss.metric(f"{scored} loss", f"{report['test_loss']:.3f}")
if tested:
    st.caption(tested)
if not (config and test_passes(config) > 1) and epoch == epochs[-1] and not status.live:  # no flip yet
    try_flip(run)

st.subheader(f"Confusion matrix after epoch {epoch}")
normalized = st.toggle("Share of each true class (off: counts)", value=True, key="normalized")
counts = report["confusion"]
event = st.plotly_chart(
    confusion_figure(counts, names, normalized), key="confusion", on_select="rerun", selection_mode="points"
)
st.caption(f"Click a cell, or pick a pair below, to see the {scored.lower()} images behind it.")
clicked = selected_cell(event.selection.points if event else [], names)
if clicked is not None and clicked != st.session_state.get("applied_click"):
    # A new click moves the pickers; after that the pickers are the user's again.
    st.session_state["applied_click"] = clicked
    st.session_state["cell_true"], st.session_state["cell_predicted"] = names[clicked[0]], names[clicked[1]]
elif "cell_true" not in st.session_state and report["most_confused"]:
    st.session_state["cell_true"] = report["most_confused"][0]["true"]
    st.session_state["cell_predicted"] = report["most_confused"][0]["predicted"]
true_column, predicted_column = st.columns(2)
true_class = true_column.selectbox("True class", names, key="cell_true")
predicted_class = predicted_column.selectbox("Predicted class", names, key="cell_predicted")
indices = evaluate.cell_images(labels, probabilities, names.index(true_class), names.index(predicted_class))
st.write(
    f"**{len(indices)}** {scored.lower()} images of **{true_class}** predicted as **{predicted_class}**, "
    "most confident first."
)
images = test_images(run, dataset())
if images is not None and len(indices):
    shown = indices[:40]
    confidence = probabilities[shown, names.index(predicted_class)]
    pictures = [enlarge(images[i], 3) for i in shown]
    if where_it_looked("cell_looked"):
        pictures = looked_images(run, images[shown], names.index(predicted_class), 3, epoch) or pictures
    st.image(pictures, caption=[f"{c:.0%}" for c in confidence], width=96)
    pick_and_look_inside(run, shown, "cell_inside")

st.subheader("Per class")
st.dataframe(
    pd.DataFrame(report["per_class"]),
    hide_index=True,
    key="per_class",
    column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")},
)
if report["most_confused"]:
    pairs = "; ".join(str(evaluate.Confusion(**c)) for c in report["most_confused"])
    st.markdown(f"**Most confused:** {pairs}.")
else:
    st.markdown("**No confusions:** every test image is in its own class's cell.")
