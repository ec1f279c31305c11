"""Click subcommands of ``bench``, one module each."""
