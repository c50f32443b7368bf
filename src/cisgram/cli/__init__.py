"""The ``cisgram`` command line (typer): :mod:`.app` holds the root and most commands, :mod:`.train`
and :mod:`.explain` the two command groups, :mod:`.console` the terminal output. Each command
parses, calls its workflow, renders its report and prints."""
