"""`make bench`: captures (generate.py), measurements (run.py), docs tables (markdown.py)."""
