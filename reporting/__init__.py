"""Tables, generated sections, figures and the report (the leaderboard and every table in the
README and docs). Importing the package imports nothing."""
