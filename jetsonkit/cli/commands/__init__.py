"""One module per subcommand; see :mod:`jetsonkit.cli` for the contract."""
