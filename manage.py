#!/usr/bin/env python
"""Django's command-line utility. Use `make run` / `python -m config.stack exec -- python manage.py ...` to
run commands against the embedded database."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
