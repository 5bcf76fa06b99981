"""``python -m findig.project.cli``: the ``findig`` command."""

from findig.project.cli import main

if __name__ == "__main__":
    main()
