"""Packing for the report: base85 against Python's, lossless figure JSON, plotly.js cached per version."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib

import numpy as np
import plotly.graph_objects as go
from hypothesis import given, settings
from hypothesis import strategies as st
from plotly.offline import get_plotlyjs

from admf.analytics import packing


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_b85encode_is_pythons(data: bytes) -> None:
    assert packing.b85encode(data) == base64.b85encode(data).decode("ascii")


def test_pack_round_trips_and_is_safe_in_a_script() -> None:
    data = get_plotlyjs().encode("utf-8")[:200_000]
    text = packing.pack(data)
    assert packing.unpack(text) == data
    assert zlib.decompress(base64.b85decode(text)) == data  # plain zlib + RFC 1924 base85
    assert "/" not in text and "<script" not in text.lower()


def test_figure_json_is_lossless_with_plain_numbers() -> None:
    x = np.array([1.7041878e12, 1.7041881e12, 1.7041884e12])  # whole milliseconds
    y32 = np.array([473.21, np.nan, 0.1], dtype=np.float32)
    y64 = np.array([100097.2858, 0.1 + 0.2, -3.0])
    fig = go.Figure([go.Scatter(x=x, y=y32), go.Scatter(x=x, y=y64, customdata=np.stack([y64, y64], axis=1))])
    data = json.loads(packing.figure_json(fig))["data"]
    assert data[0]["x"] == [1704187800000, 1704188100000, 1704188400000]
    assert all(isinstance(v, int) for v in data[0]["x"])
    assert data[0]["y"][1] is None
    assert np.array_equal(np.array([data[0]["y"][0], data[0]["y"][2]], dtype=np.float32), y32[[0, 2]])
    assert data[0]["y"][0] == 473.21  # float32's shortest text, not 473.2099914550781
    assert data[1]["y"] == y64.tolist()
    assert data[1]["customdata"] == np.stack([y64, y64], axis=1).tolist()


def test_plotly_is_packed_once_per_version_in_the_cache_dir(tmp_path) -> None:
    js = get_plotlyjs().encode("utf-8")
    text = packing.pack_plotly(tmp_path)
    assert packing.unpack(text) == js
    (cached,) = tmp_path.iterdir()
    assert cached.name.startswith(f"plotly-{packing.plotly_js()[1]}-") and cached.suffix == ".b85"
    assert packing.pack_plotly(tmp_path) == text
    # warm runs read the file: a stand-in with a right checksum is what comes back
    magic = cached.read_text(encoding="ascii").split(" ", 1)[0]
    stand_in = packing.pack(b"stand-in")
    cached.write_text(f"{magic} {hashlib.sha256(stand_in.encode()).hexdigest()}\n{stand_in}", encoding="ascii")
    assert packing.pack_plotly(tmp_path) == stand_in
    cached.write_text(cached.read_text(encoding="ascii").replace(stand_in, text), encoding="ascii")
    # a cache file cut short is packed again and rewritten, never inlined broken
    cached.write_text(cached.read_text(encoding="ascii")[:-100], encoding="ascii")
    assert packing.pack_plotly(tmp_path) == text
    assert cached.read_text(encoding="ascii").endswith(text)
    # a cache directory that cannot be written only costs the packing
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert packing.pack_plotly(blocked / "admf") == text
    assert packing.pack_plotly(None) == text
