"""What a run leaves: its directory, summaries, reports and the regression gate."""
