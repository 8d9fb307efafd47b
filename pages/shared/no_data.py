"""The panel a page shows without CIFAR-10: what is missing, and how to get it here. Layout only."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import streamlit as st

from cifar.data import ProgressCallback, UnusableSource, download
from cifar.errors import CifarError


def show_on(bar) -> ProgressCallback:
    return lambda progress: bar.progress(progress.fraction, text=progress.describe())


def problem_of(error: CifarError) -> str:
    # The page says where to get the data itself; the command line's advice would say it again.
    return error.problem if isinstance(error, UnusableSource) else str(error)


def no_data_yet(problem: str | None) -> None:
    """What is missing, and what the page can do: download it here, or say where to put it."""
    with st.container(border=True):
        st.subheader("No CIFAR-10 data yet", anchor=False)
        if problem:
            st.error(_literal(problem))
        intro = (
            "This app trains networks on CIFAR-10, 60,000 colour photos of 32×32 pixels in 10 classes, "
            "and needs a copy of them on this machine."
        )
        if download.is_online():
            _offer_download(intro)
        else:
            _say_where_to_put_it(intro)


def _offer_download(intro: str) -> None:
    st.markdown(
        f"{intro} Download it here: {download.ARCHIVE_MB} MB, once, from the University of Toronto, where "
        f"CIFAR-10 is published. The app keeps it in `{download.archive_path().parent}` and loads it from "
        "there from then on. Keep this page open until the download has finished."
    )
    label = f"Download CIFAR-10 ({download.ARCHIVE_MB} MB)"
    if st.button(label, key="download_cifar", type="primary", icon=":material/download:"):
        bar = st.progress(0.0, text=f"Connecting to {urlsplit(download.ARCHIVE_URL).hostname}…")
        try:
            download.download_archive(on_progress=show_on(bar))
        except CifarError as error:
            bar.empty()
            st.error(_literal(str(error)))
        else:
            st.rerun()  # the next run finds the archive and decodes it, with its own progress bar
    with st.expander("Or use a copy you already have"):
        st.markdown(f"Set the environment variable {_ELSEWHERE}")


def _say_where_to_put_it(intro: str) -> None:
    st.markdown(
        f"{intro} This machine seems to be offline, so the app cannot download it itself.\n\n"
        "**Either** put the archive in the app's folder:\n\n"
        f"1. On a computer that is online, download `{download.ARCHIVE_NAME}` ({download.ARCHIVE_MB} MB) "
        f"from {download.OFFICIAL_PAGE_URL}.\n"
        f"2. Copy that file, unchanged, into `{download.archive_path().parent}` on this machine.\n"
        "3. Reload this page.\n\n"
        f"**Or**, for a copy elsewhere on this machine, set the environment variable {_ELSEWHERE}"
    )


_ELSEWHERE = (
    "`CIFAR10_DIR` to its path and restart the app: the app reads the variable only when it starts. "
    "The copy may be the archive `cifar-10-python.tar.gz`, its unpacked folder `cifar-10-batches-py`, "
    "or a folder of 32×32 images laid out as `<root>/train/<class>/*.png` and `<root>/test/<class>/*.png`."
)


def _literal(text: str) -> str:
    """`text` with every character that Markdown would act on escaped, so it shows as it is."""
    # An underscore inside a word (CIFAR10_DIR) never makes emphasis; left alone, it stays searchable.
    return re.sub(r"([\\`*{}\[\]<>#|~$]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))", r"\\\1", text)
