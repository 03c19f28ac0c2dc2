"""Small helpers shared by the task functions, callbacks and commands."""
