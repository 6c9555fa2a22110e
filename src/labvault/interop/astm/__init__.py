"""ASTM E1381 / E1394 (CLSI LIS1-A, LIS2-A2), how most analyzers talk to a LIS. Pure: no socket, no
database, no service; a listener and result entry are built on it.

frames.py (one frame: checksum, build, read, ``frames_for``) and framing.py (the receiving state
machine) are the line; fields.py (delimiters, escapes), values.py (typed fields), model.py
(records), grouping.py (the message tree) and records.py (``parse_message``) the records;
session.py replays a captured session; errors.py says what was refused without quoting it.
"""
