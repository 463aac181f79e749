"""What a person is shown of a sweep: the data behind ``--print`` (``status``), the static
HTML page and the terminal chart (``report``), the interactive page (``dashboard``, with its
stylesheet and script as files of this package), and what the runs say (``insight``)."""
