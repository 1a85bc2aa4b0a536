"""The project's one command: `python -m fmlab COMMAND [ARGS]` runs any of its tools (see
`fmlab.__main__`). Importing the package imports nothing."""
