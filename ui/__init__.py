"""The Gradio web UI over the ``qa`` library (``qa ui``)."""
