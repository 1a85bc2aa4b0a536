"""A trained model put to use: checkpoints loaded and checked, user images converted, exports for
serving measured. Importing the package imports nothing."""
