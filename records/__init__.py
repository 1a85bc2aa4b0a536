"""Run records and predictions files: records read back and checked, who/when/where a record was
written, and the predictions each run leaves. Importing the package imports nothing."""
