"""Text packed for inlining in the report: deflate (zlib, level 9) then base85, and its JS unpacker.

plotly.js (the installed plotly package's full bundle, 4.8 MB) packs to about 1.8 MB; it is
packed once per plotly version and kept in the process and in the user's cache directory, so
a report costs milliseconds, not the half second deflate takes. Base85 is RFC 1924's alphabet
(Python's `base64.b85encode`): it has no "/", so "</script" cannot appear in packed text.
The browser inflates with `DecompressionStream('deflate')`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import sys
import tempfile
import zlib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from admf.core.errors import UserError

__all__ = ["PACKED_TYPE", "UNPACK_JS", "b85encode", "pack", "packed_script", "unpack", "read_packed",
           "figure_json", "packed_plotly", "plotly_js"]

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
PACKED_TYPE = "text/x-admf-deflate-b85"
_ALPHABET = np.frombuffer(ALPHABET, dtype=np.uint8)
_CACHE_MAGIC = "admf-packed-plotly-1"


def b85encode(data: bytes) -> str:
    """`base64.b85encode(data)` as text, vectorized (Python's takes half a second on plotly.js)."""
    pad = -len(data) % 4
    words = np.frombuffer(data + b"\0" * pad, dtype=">u4").astype(np.uint64)
    digits = np.empty((words.size, 5), dtype=np.uint8)
    for i in range(4, -1, -1):
        digits[:, i] = words % 85
        words //= 85
    out = _ALPHABET[digits].tobytes()
    return out[:len(out) - pad].decode("ascii")


def pack(data: bytes) -> str:
    """Deflate then base85; the text can sit inside a <script> element as it is."""
    text = b85encode(zlib.compress(data, 9))
    low = text.lower()
    # "</script" would end the element early, and "<script" after "<!--" would keep the parser
    # from ending it at all. The alphabet has no "/"; "<script" is a chance in about 10^8.
    if "</script" in low or "<script" in low:
        raise RuntimeError("packed text holds '<script'; it cannot be inlined in HTML")
    return text


def unpack(text: str) -> bytes:
    """The bytes `pack` packed."""
    return zlib.decompress(base64.b85decode(text))


def packed_script(id_: str, text: str) -> str:
    return f'<script id="{html.escape(id_)}" type="{PACKED_TYPE}">{text}</script>'


def read_packed(page: str, id_: str) -> bytes:
    """What the report packed under element id `id_` (for readers and tests of a report)."""
    m = re.search(rf'<script id="{re.escape(id_)}" type="{re.escape(PACKED_TYPE)}">(.*?)</script>', page, re.S)
    if m is None:
        raise KeyError(id_)
    return unpack(m.group(1))


def _lists(obj: Any) -> Any:
    """plotly's base64 arrays ({"dtype", "bdata"[, "shape"]}) as plain number lists (None for NaN).

    Decimal text deflates to about two thirds of what base64 binary does; each number is the
    shortest text that reads back the same value at its dtype, so nothing is lost.
    """
    if isinstance(obj, list):
        return [_lists(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "bdata" not in obj or "dtype" not in obj:
        return {k: _lists(v) for k, v in obj.items()}
    a = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
    values: list[Any]
    if a.dtype.kind != "f":
        values = a.tolist()
    else:
        finite = np.isfinite(a)
        if finite.all() and (a == np.round(a)).all() and np.abs(a).max(initial=0) < 2**53:
            values = a.astype(np.int64).tolist()
        else:
            # numpy prints each value with the fewest digits that read back the same at its dtype
            values = [float(s) if ok else None for s, ok in zip(a.astype(str).tolist(), finite.tolist(), strict=True)]
    if "shape" in obj:
        shape = [int(v) for v in str(obj["shape"]).split(",")]
        return np.array(values, dtype=object).reshape(shape).tolist()
    return values


def figure_json(fig: Any) -> bytes:
    """A plotly figure as compact JSON with plain number lists (what packs smallest)."""
    return json.dumps(_lists(json.loads(fig.to_json())), separators=(",", ":"), allow_nan=False).encode()


def plotly_js() -> tuple[bytes, str]:
    """(the installed plotly package's plotly.min.js, plotly's version)."""
    import plotly  # type: ignore[import-untyped]

    path = resources.files("plotly").joinpath("package_data", "plotly.min.js")
    try:
        return path.read_bytes(), str(plotly.__version__)
    except OSError as exc:
        raise UserError(f"plotly.js is missing from the plotly package ({path}: {exc}); "
                        "reinstall it: pip install --force-reinstall plotly") from exc


def user_cache_dir() -> Path:
    """admf's folder in the user's cache directory (XDG on Linux, Library/Caches, LOCALAPPDATA)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "admf"


def _read_cache(path: Path) -> str | None:
    try:
        head, _, text = path.read_text(encoding="ascii").partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    # a file cut short or changed by hand is packed again, never inlined broken
    if head != f"{_CACHE_MAGIC} {hashlib.sha256(text.encode('ascii')).hexdigest()}":
        return None
    return text


def _write_cache(path: Path, text: str) -> None:
    """Best effort: a cache directory that cannot be written only costs the packing next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii", newline="\n") as f:
                f.write(f"{_CACHE_MAGIC} {hashlib.sha256(text.encode('ascii')).hexdigest()}\n{text}")
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def pack_plotly(cache_dir: Path | None) -> str:
    """plotly.js packed; read from, else written to, `cache_dir` (None: no file cache)."""
    js, version = plotly_js()
    path = None
    if cache_dir is not None:
        safe = re.sub(r"[^\w.+-]", "_", version)
        path = cache_dir / f"plotly-{safe}-{hashlib.sha256(js).hexdigest()[:16]}.b85"
        cached = _read_cache(path)
        if cached is not None:
            return cached
    text = pack(js)
    if path is not None:
        _write_cache(path, text)
    return text


@cache
def packed_plotly() -> str:
    """plotly.js packed, once a process (and once per plotly version in the user's cache directory)."""
    return pack_plotly(user_cache_dir())


# Defines window.admf: unpack(id) -> Promise of the text packed in element `id`, json(id), and
# plotly() -> Promise of window.Plotly (the bundle run once, in global scope, by indirect eval).
UNPACK_JS = """
window.admf=(function(){
var A='ALPHABET',T=new Uint8Array(128),P=null;
for(var i=0;i<85;i++)T[A.charCodeAt(i)]=i;
function b85(s){var n=s.length,m=n%5,out=new Uint8Array(Math.floor(n/5)*4+(m?m-1:0)),o=0;
 for(var i=0;i<n;i+=5){var v=0;for(var j=0;j<5;j++)v=v*85+(i+j<n?T[s.charCodeAt(i+j)]:84);
  for(var k=24;k>=0&&o<out.length;k-=8)out[o++]=(v>>>k)&255;}
 return out;}
function unpack(id){var el=document.getElementById(id);
 if(!el)return Promise.reject(new Error('no element '+id));
 if(typeof DecompressionStream==='undefined')return Promise.reject(new Error(
  'this browser has no DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later have it)'));
 return new Response(new Blob([b85(el.textContent)]).stream().pipeThrough(new DecompressionStream('deflate'))).text();}
return {unpack:unpack,json:function(id){return unpack(id).then(JSON.parse);},
 plotly:function(){return P||(P=unpack('admf-plotly').then(function(js){(0,eval)(js);return window.Plotly;}));}};
})();
""".replace("ALPHABET", ALPHABET.decode("ascii"))
