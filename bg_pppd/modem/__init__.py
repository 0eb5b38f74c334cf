"""The module itself: its port, the AT channel and its answers, pre-flight, reset, control lines."""
