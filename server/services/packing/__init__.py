"""Packing at the bench: a packer opens an order at a station, every item is verified by
the server, quality checks and holds, carton and weight, then one confirm that commits the
shipment, takes the stock out and queues the label. Protocol: docs/pack-api.md.

One module per use case:
  session.py       open (or reopen) a session; hold, release, cancel
  verification.py  item scans (exactly-once) and quality checks
  cartons.py       the packer's carton and the scale reading (what the parcels should be
                   and weigh: parcels.py)
  confirm.py       shipments, stock out, labels (labels.py: carrier service, tracking
                   numbers, the label's ZPL), the documents after commit (documents.py)
  shipments.py     shipments and dispatch
  view.py          the session object and the station the pages show; stations.py
  _common.py       the packer, the session row and lines, the guards: shared by the above

Each action is one write transaction that locks the session row first; its answer exists
only once that transaction has committed. Services take the settings as an argument
(`settings: Config`, server/settings.py) and import no flask.
"""
from __future__ import annotations

from ...domain.errors import DomainError
from . import documents
from ._common import Packer, packer_from
from .cartons import set_carton, weigh
from .confirm import confirm
from .session import cancel, hold, open_session, release
from .shipments import dispatch, find_shipment, shipment_view, shipments_for_order
from .stations import station, stations
from .verification import answer_check, scan
from .view import session_view, station_view

__all__ = ["Packer", "packer_from", "stations", "station", "station_view", "open_session",
           "session_view", "scan", "answer_check", "weigh", "set_carton", "hold", "release",
           "cancel", "confirm", "dispatch", "find_shipment", "shipment_view",
           "shipments_for_order", "documents", "DomainError"]
