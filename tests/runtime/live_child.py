"""A live session in its own process, for the SIGKILL test: `python live_child.py SPEC.json`.

SPEC holds the raw config, the emulator URLs, the journal path, AlpacaSettings fields and a work
directory. The child builds a LiveRunner exactly as `admf live` does, then applies events until
`<work>/stop` exists (or `limit` seconds pass). While running it rewrites
`<work>/progress-<pid>.json` (bars, fills, connection states) so the test can pace the emulator;
on a clean stop it waits for its orders to finish and writes `<work>/out-<pid>.json` with
the books' positions, cash and fills.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from admf.adapters.alpaca.settings import AlpacaSettings
from admf.config.loader import config_from_dict
from admf.runtime.factory import Endpoints, LiveRunner


def _write(path: Path, obj: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)  # readers never see half a file


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    work = Path(spec["work"])
    cfg = config_from_dict(spec["config"], base_dir=spec["base_dir"])
    u = spec["urls"]
    runner = LiveRunner(cfg, paper=True, journal_path=Path(spec["journal"]), warmup=False,
                        endpoints=Endpoints(u["trading_url"], u["data_url"], u["stream_url"], u["data_stream_url"]),
                        settings=AlpacaSettings(**spec["settings"]))
    session = runner.start()
    progress = work / f"progress-{os.getpid()}.json"
    stop = work / "stop"

    def tick() -> None:
        _write(progress, {"bars": session.stats.bars, "fills": session.stats.fills,
                          "connections": session.stats.connections})

    tick()
    session.run(until=stop.exists, duration=spec.get("limit", 60.0), on_tick=tick, tick=0.02)
    end = time.monotonic() + 5.0
    while time.monotonic() < end and any(slot.working for slot in session.build.all_slots):
        session.run(duration=0.05)
    runner.stop()
    fills = [{"exec_id": f.exec_id, "client_order_id": f.client_order_id, "symbol": f.symbol,
              "signed_qty": f.signed_qty, "price": f.price} for b in session.books.values() for f in b.fills]
    _write(work / f"out-{os.getpid()}.json", {
        "positions": session.positions(), "cash": session.cash(), "fills": fills,
        "bars": session.stats.bars, "stats_fills": session.stats.fills,
        "duplicate_fills": session.stats.duplicate_fills, "broker": runner.broker.stats,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
