#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.embedded import ensure_embedded_services

    # In a checkout with no DATABASE_URL / REDIS_URL, manage.py talks to the
    # embedded servers under .data/ (started on demand).
    ensure_embedded_services()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
