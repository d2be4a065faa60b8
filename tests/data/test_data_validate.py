from __future__ import annotations

from pathlib import Path

import pytest

from admf.core.errors import DataError
from admf.data.catalog import load_spec
from admf.data.loaders import load_bars

HEADER = "timestamp,open,high,low,close,volume"


def _good_rows(n: int = 20) -> list[list[str]]:
    rows = []
    for i in range(n):
        minute = 30 + 5 * i
        t = f"2024-03-26 {13 + minute // 60:02d}:{minute % 60:02d}:00+00:00"
        rows.append([t, "100.0", "101.0", "99.0", "100.5", "1000"])
    return rows


def _write(tmp_path: Path, rows: list[list[str]], name: str = "SPY_5m.csv", header: str = HEADER) -> Path:
    p = tmp_path / name
    p.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return p


def _error(p: Path) -> str:
    with pytest.raises(DataError) as e:
        load_bars(p)
    return str(e.value)


def test_valid_file_passes(tmp_path: Path) -> None:
    assert len(load_bars(_write(tmp_path, _good_rows()))) == 20


def test_unsorted_matches_documented_message(tmp_path: Path) -> None:
    rows = _good_rows()
    # Row 17 (14:50) gets a time before row 16 (14:45).
    rows[16][0] = "2024-03-26 14:40:00+00:00"
    p = _write(tmp_path, rows)
    assert _error(p) == (
        f"{p}: row 17 (2024-03-26 14:40:00+00:00): timestamps not sorted "
        "(earlier than row 16, 2024-03-26 14:45:00+00:00)"
    )


def test_duplicate(tmp_path: Path) -> None:
    rows = _good_rows()
    rows[5][0] = rows[4][0]
    p = _write(tmp_path, rows)
    assert _error(p) == f"{p}: row 6 (2024-03-26 13:50:00+00:00): duplicate timestamp (same as row 5)"


@pytest.mark.parametrize(
    ("col", "text", "shown"), [("close", "", "nan"), ("open", "inf", "inf"), ("low", "nan", "nan")]
)
def test_not_finite(tmp_path: Path, col: str, text: str, shown: str) -> None:
    rows = _good_rows()
    idx = ["timestamp", "open", "high", "low", "close", "volume"].index(col)
    rows[9][idx] = text
    p = _write(tmp_path, rows)
    msg = _error(p)
    assert msg == f"{p}: row 10 (2024-03-26 14:15:00+00:00), column {col}: {col} is not a finite number (got {shown})"


def test_high_below_close(tmp_path: Path) -> None:
    rows = _good_rows()
    rows[2][2] = "100.25"  # high below close 100.5
    p = _write(tmp_path, rows)
    assert _error(p) == (
        f"{p}: row 3 (2024-03-26 13:40:00+00:00), column high: high is below max(open, close) = 100.5 (got 100.25)"
    )


def test_low_above_open(tmp_path: Path) -> None:
    rows = _good_rows()
    rows[3][3] = "100.1"  # low above open 100.0
    p = _write(tmp_path, rows)
    assert _error(p) == (
        f"{p}: row 4 (2024-03-26 13:45:00+00:00), column low: low is above min(open, close) = 100.0 (got 100.1)"
    )


def test_high_below_low(tmp_path: Path) -> None:
    rows = _good_rows()
    rows[0][2:4] = ["98.0", "99.0"]
    p = _write(tmp_path, rows)
    assert _error(p) == f"{p}: row 1 (2024-03-26 13:30:00+00:00), column high: high is below low 99.0 (got 98.0)"


def test_negative_volume_and_price(tmp_path: Path) -> None:
    rows = _good_rows()
    rows[7][5] = "-5"
    p = _write(tmp_path, rows)
    assert "row 8 (2024-03-26 14:05:00+00:00), column volume: volume must be >= 0 (got -5.0)" in _error(p)
    rows = _good_rows()
    rows[1][1] = "0"
    p = _write(tmp_path, rows, name="B_5m.csv")
    assert "row 2 (2024-03-26 13:35:00+00:00), column open: open must be > 0 (got 0.0)" in _error(p)


def test_empty_file_with_header(tmp_path: Path) -> None:
    p = _write(tmp_path, [])
    assert _error(p) == f"{p}: no bars (the file has a header but no rows)"


def test_missing_column_lists_found_and_accepted(tmp_path: Path) -> None:
    rows = [[r[0], r[1], r[2], r[3], r[5]] for r in _good_rows()]
    p = _write(tmp_path, rows, header="Timestamp,Open,High,Low,Volume")
    msg = _error(p)
    assert msg.startswith(f"{p}: columns: missing column close; columns found: Timestamp, Open, High, Low, Volume")
    assert "accepted: time: timestamp/datetime/time/date/ts/t" in msg
    assert "close/c" in msg


def test_missing_time_column(tmp_path: Path) -> None:
    rows = [r[1:] for r in _good_rows()]
    p = _write(tmp_path, rows, header="open,high,low,close,volume")
    assert "missing column timestamp; columns found: open, high, low, close, volume" in _error(p)


def test_missing_file_lists_symbol_files(tmp_path: Path) -> None:
    _write(tmp_path, _good_rows(), name="SPY_1h.csv")
    _write(tmp_path, _good_rows(), name="QQQ_5m.csv")
    with pytest.raises(DataError) as e:
        load_spec("SPY_5m", tmp_path)
    msg = str(e.value)
    assert "SPY_5m.parquet/SPY_5m.csv/SPY_5m.csv.gz" in msg
    assert f"data directory {tmp_path}" in msg
    assert "files for SPY there: SPY_1h.csv" in msg
    assert "QQQ_5m.csv" not in msg


def test_missing_file_no_symbol_files(tmp_path: Path) -> None:
    _write(tmp_path, _good_rows(), name="QQQ_5m.csv")
    with pytest.raises(DataError) as e:
        load_spec("IWM_5m", tmp_path)
    assert "no files for IWM there; data files there: QQQ_5m.csv" in str(e.value)


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_spec("SPY_5m", tmp_path / "nope")
    assert f"the data directory {tmp_path / 'nope'} does not exist" in str(e.value)


def test_missing_explicit_path(tmp_path: Path) -> None:
    _write(tmp_path, _good_rows(), name="SPY_1h.csv")
    with pytest.raises(DataError) as e:
        load_spec(str(tmp_path / "SPY_5m.csv"), tmp_path)
    msg = str(e.value)
    assert f"file {tmp_path / 'SPY_5m.csv'} not found" in msg and "SPY_1h.csv" in msg
