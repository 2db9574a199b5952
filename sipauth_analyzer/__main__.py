"""``python -m sipauth_analyzer`` runs the ``sipauth`` command."""

from sipauth_analyzer.cli import main

if __name__ == "__main__":
    main()
