"""The LIS's answer to an analyzer's host query (LIS2-A2 request information record, Q), as records.

One answer message per Q record, sent by labvault in a transfer of its own once the analyzer's
ends (listener.py):

- a tube with tests to run: ``H``, ``P`` (P-3: labvault's patient id, nothing else about the
  patient), one ``O`` per test (O-3 the tube, O-5 ``^^^code`` in the instrument's own code, O-6
  priority S or R, O-12 action code N, O-16 the specimen type, O-26 report type Q: an answer to a
  query), ``L`` with termination code F (query answered);
- anything else (an unknown tube, another lab's, nothing left to run, a range query): ``H`` and
  ``L`` with termination code I (no information available for the last query): the answer
  never tells another lab's tube from a missing one.

Pure: the service read (interop/worklist_query.py) is the caller's.
"""

from __future__ import annotations

import datetime as dt

from labvault.interop.astm.fields import DEFAULT, join_record
from labvault.interop.astm.model import Header, Query
from labvault.interop.worklist_query import TubeWork

SENDER = "LABVAULT"
VERSION = "LIS2-A2"
ANSWERED = "F"
NO_INFORMATION = "I"
QUERY_ANSWER = "Q"  # O-26 report type
NEW_ORDER = "N"  # O-12 action code


def queried_barcode(query: Query) -> str | None:
    """The tube a Q record asks about: the specimen id of its starting range (Q-3.2); None for a
    range (an ending range, or ``ALL``), which labvault does not answer."""
    barcode = query.specimen_id.strip()
    ending = [part for part in query.ending_range if part.strip()]
    if not barcode or barcode.upper() == "ALL" or ending:
        return None
    return barcode


def answer(header: Header, work: TubeWork | None, now: dt.datetime) -> list[str]:
    """The records of the answer to one query of the analyzer whose header is ``header``."""
    analyzer = header.sender_name
    head = join_record(
        "H",
        ["", "", "", SENDER, "", "", "", "", analyzer, "", "P", VERSION, now.strftime("%Y%m%d%H%M%S")],
        DEFAULT,
    )
    if work is None:
        return [head, join_record("L", ["1", NO_INFORMATION], DEFAULT)]
    records = [head, join_record("P", ["1", str(work.patient_id)], DEFAULT)]
    priority = "S" if work.urgent else "R"
    for number, code in enumerate(work.codes, start=1):
        fields: list[str | list[str]] = [""] * 25
        fields[0] = str(number)  # O-2
        fields[1] = work.barcode  # O-3
        fields[3] = ["", "", "", code]  # O-5
        fields[4] = priority  # O-6
        fields[10] = NEW_ORDER  # O-12
        fields[14] = work.specimen  # O-16
        fields[24] = QUERY_ANSWER  # O-26
        records.append(join_record("O", fields, DEFAULT))
    records.append(join_record("L", ["1", ANSWERED], DEFAULT))
    return records
