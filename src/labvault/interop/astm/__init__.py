"""ASTM E1381 / E1394 (CLSI LIS1-A, LIS2-A2), how most analyzers talk to a LIS. The line and the
records are pure (no socket, no database, no service); the channel is built on them: reading.py
(a message as the results to enter), inbox.py (on the channel-neutral intake) and listener.py
(the TCP server).

frames.py (one frame: checksum, build, read, ``frames_for``) and framing.py (the receiving state
machine) are the line; fields.py (delimiters, escapes), values.py (typed fields), model.py
(records), grouping.py (the message tree) and records.py (``parse_message``) the records;
session.py replays a captured session; errors.py says what was refused without quoting it.
"""
