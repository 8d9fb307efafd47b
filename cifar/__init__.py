"""CIFAR-10 CNN Lab: data, a configurable CNN, training as a process, and evaluation.

Never imports streamlit: the dashboard (streamlit_app.py, pages/) is built on this package.
"""
