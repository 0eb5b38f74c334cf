"""The supervisor: its state machine, recovery ladder, effects, workers and run files."""
