"""``python -m hmas``."""

from hmas.cli import main

if __name__ == "__main__":
    main()
