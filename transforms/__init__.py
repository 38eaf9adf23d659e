"""Plain-Python steps of the pipeline (staging, core, outputs, checks, publication). They never import Prefect:
each can be called and tested as a function; flows/ composes them."""
