# The reader's drop path in C (capture/_droprun.c; its drop_run docstring gives the arguments).
from sipauth_analyzer.capture.reader import DropRun

drop_run: DropRun
