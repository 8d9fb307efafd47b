"""Train: choose the network, see its layers and cost, launch, and watch it learn live."""

from __future__ import annotations

import streamlit as st

from cifar import jobs
from cifar.charts import batch_figure, history_figure
from cifar.estimate import describe_duration, estimate_seconds
from cifar.model import PRESETS, ModelConfig, describe
from pages.common import RUN_PARAM, dataset
from pages.train_controls import config_from_widgets, preset_picker

st.title("Train a network")
data = dataset()

preset_picker()
config = config_from_widgets()


@st.cache_data(max_entries=64, show_spinner="Building the model…")
def layers_of(config_json: str) -> tuple[list[dict], dict[str, int]]:
    import json

    return describe(ModelConfig(**json.loads(config_json)))


if config is not None:
    import json

    rows, counts = layers_of(json.dumps(config.to_dict(), sort_keys=True))
    train_images = len(data.y_train) if data is not None else 50_000
    test_images = len(data.y_test) if data is not None else 10_000
    seconds = estimate_seconds(config, train_images, test_images)
    parameters, duration, images = st.columns(3)
    parameters.metric("Parameters", f"{counts['total']:,}")
    duration.metric("Estimated time", describe_duration(seconds), help="On a 2-core laptop like the one measured.")
    images.metric("Training images", f"{min(train_images, config.train_size or train_images):,}")
    with st.expander("Layers (like Keras' model.summary())", expanded=False):
        st.dataframe(rows, hide_index=True, key="layer_table")
    name = st.text_input("Run name (optional)", key="run_name", max_chars=40)
    if st.button("Launch training", type="primary", key="launch", disabled=data is None):
        run = jobs.launch(config, name=name or st.session_state.get("preset", "run"))
        st.query_params[RUN_PARAM] = run.id
        st.session_state["watching"] = run.id


@st.fragment(run_every=1)
def live_view() -> None:
    live = {job.run.id: job for job in jobs.live_jobs()}
    watching = st.session_state.get("watching") or st.query_params.get(RUN_PARAM)
    job = live.get(watching) or next(iter(live.values()), None)
    if job is None:
        return
    run = job.run
    st.subheader(f"Run {run.id}")
    if job.state == "queued":
        st.info(f"Queued: number {job.queue_position} in line. It starts by itself when the training before it ends.")
    events, _ = run.events()
    batches = [event for event in events if event["type"] == "batch"]
    if batches:
        last = batches[-1]
        epochs = run.status().get("epochs") or 1
        done = ((last["epoch"] - 1) + last["batch"] / last["batches"]) / epochs
        st.progress(
            min(done, 1.0),
            text=f"Epoch {last['epoch']} of {epochs}, batch {last['batch']:,} of {last['batches']:,}: "
            f"{last['images_per_second']:,.0f} images/s, about {describe_duration(last['eta_seconds'])} left",
        )
        live_curves, epoch_curves = st.columns(2)
        live_curves.plotly_chart(batch_figure(batches), key="batch_curves")
        epoch_curves.plotly_chart(history_figure(run.history(), "accuracy"), key="epoch_curves")
    elif job.state == "running":
        st.caption("Loading the data and building the model…")
    if st.button("Stop", key="stop_training", help="Stops after the current batch; finished epochs are kept."):
        jobs.stop(run)
        st.toast(f"Stopping {run.id} after its current batch.")


live_view()
st.caption(f"Presets: {', '.join(PRESETS)}. A training keeps going if you leave this page or close the tab.")
