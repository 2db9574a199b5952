# The JSON report's attempt records in C (report/_jsontext.c); json_report.python_attempts_json
# is the same writer in Python, with the signature both share, and json_report._json_time the
# Python time_json.
from sipauth_analyzer.report.json_report import AttemptsJson

attempts_json: AttemptsJson

def time_json(epoch: float | None) -> str: ...
