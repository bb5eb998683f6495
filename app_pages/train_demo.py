"""Train (teaching demo): a short live run of a small model with an operator on Fashion-MNIST."""

import streamlit as st

import lab
import slimconv
from lab.training import (
    DEFAULT_EPOCHS,
    DEFAULT_IMAGES,
    FINISHED_KEY,
    HISTORY_KEY,
    curves_chart,
    history_table,
    train_live,
)

DENSE = "(dense nn.Conv2d)"

st.title("Train a small model")
st.markdown(
    "**What you are looking at:** a real training run of a CIFAR-style network on a small subset of "
    "Fashion-MNIST, on this machine, with the operator you pick in place of the convolutions. The curves grow "
    "after every epoch. **What to look for:** how fast each operator learns compared with dense convolutions, "
    "and the gap between train and test accuracy on so few images. Each finished epoch is selectable in the "
    "sidebar under *Trained here*, so every other page can look inside the model you just trained."
)

with st.form("train_form"):
    columns = st.columns(4)
    model = columns[0].selectbox("Model", slimconv.list_models(include_torchvision=False), key="train_model")
    op = columns[1].selectbox("Operator", [DENSE, *slimconv.list_ops()], key="train_op")
    subset = columns[2].slider("Training images", 200, 10000, DEFAULT_IMAGES, 100, key="train_subset")
    epochs = columns[3].slider("Epochs", 1, 10, DEFAULT_EPOCHS, key="train_epochs")
    submitted = st.form_submit_button("Train", type="primary")

if submitted:
    label = f"{model}{'' if op == DENSE else '+' + op}, {subset} images, run {len(lab.trained_checkpoints()) + 1}"
    st.button("Stop after this epoch", key="train_stop")
    with lab.user_errors("train the model"):
        train_live(label, model, None if op == DENSE else op, subset, epochs)
    st.rerun()  # the sidebar, drawn before this page, then lists the new model

if FINISHED_KEY in st.session_state:
    st.success(st.session_state[FINISHED_KEY])

if HISTORY_KEY in st.session_state and st.session_state[HISTORY_KEY][1]:
    label, history = st.session_state[HISTORY_KEY]
    st.subheader(label)
    st.altair_chart(curves_chart(history))
    lab.show_table(history_table(history).reset_index(), "training history")
