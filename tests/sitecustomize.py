"""Imported at start-up by the ``genhep`` commands the tests spawn (``run_cli`` puts this
folder on ``PYTHONPATH``): they compose this checkout's ``conf/`` (see checkout_conf.py)."""

import checkout_conf

checkout_conf.install()
