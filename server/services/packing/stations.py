"""The packing stations of config.yaml (`stations:`), each bound to one label printer,
with the printer's live state."""
from __future__ import annotations

from ...config import Config
from ...config_packing import Station
from ...domain.errors import NotFound
from .. import printer_state


def station(name: str, *, settings: Config) -> Station:
    """The station called `name`, or 404 unknown_station."""
    found = settings.setup.stations.get(name) if isinstance(name, str) else None
    if found is None:
        raise NotFound(f"no packing station {name!r} (stations: in config.yaml)",
                       code="unknown_station", field="station")
    return found


def printer_view(st: Station, *, settings: Config) -> dict:
    """The station's label printer as its last status check saw it."""
    state = printer_state.get(st.printer)
    url = settings.printers[st.printer]
    if state is None:
        return {"name": st.printer, "url": url, "state": "unknown", "detail": {},
                "checked_at": None}
    return {**state, "name": st.printer}


def stations(*, settings: Config) -> list[dict]:
    """Every station with its printers."""
    return [{"station": st.name, "warehouse": st.warehouse,
             "printer": printer_view(st, settings=settings),
             "document_printer": st.document_printer or None}
            for st in settings.setup.stations.values()]
