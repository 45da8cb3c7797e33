"""A deck in a notebook: one copy of deck.gl per notebook, not one per map.

Each map's output is an iframe holding the map's page and its data only, gzip'd (a tenth of
the JSON); an iframe keeps deck.gl's globals apart from the notebook's own scripts (a
classic notebook's RequireJS would capture them). deck.gl itself (pydeck's bundle,
~4.3 MB), our MVT loader and the font travel once per kernel session: gzip'd and base64'd
(~1.6 MB) in the first map shown, where the notebook page decodes them into
``window.twinDeckAssets``; every map's iframe takes them from its parent page. A notebook
with maps then stays small, and a map still works on a closed network and in the saved
file.

Where the first map's output is gone (its cell cleared, or re-run in a fresh session while
another map kept the old output), a map says how to bring deck.gl back instead of drawing
nothing: re-running the cell that shows it again ships the assets anew. Front ends that put
every output in a frame of its own (Colab) draw only maps that carry the assets:
``deck.show(assets=True)`` ships them with that map.

Examples
--------
>>> from twin.sample import make_small_twin
>>> cell = notebook_html(make_small_twin().map(), assets=True)
>>> cell.count("twinDeckAssets =") == 1 and "<iframe" in cell
True
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from functools import lru_cache

from . import style
from .offline_html import _bundle, deck_json, label_placer, mvt_loader, page_html

__all__ = ["notebook_html", "assets_html", "show", "HEIGHT_PX"]

#: Height of a map in a notebook.
HEIGHT_PX = 560

_MISSING = ("This map needs deck.gl, which travels with the first map this notebook's kernel "
            "showed. Run this cell again (or Kernel → Restart &amp; Run All); in a notebook "
            "opened from elsewhere, trust it first so its scripts may run.")

# The iframe's start: wait for the notebook page to decode the shared assets (the page may
# run its scripts after the iframe loads), then load them here and draw.
_START = """
async function twinGunzip(b64) {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const gz = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(gz).text();
}
(async () => {
  let assets = null;
  for (let i = 0; i < 100 && !assets; i++) {
    try { assets = window.parent !== window && window.parent.twinDeckAssets; }
    catch (e) { break; }  // a parent of another origin: nothing to take
    if (!assets) await new Promise((r) => setTimeout(r, 100));
  }
  if (!assets) {
    document.getElementById("map").innerHTML =
      '<p style="margin:60px 20px;font-size:14px">' + __MISSING__ + '</p>';
    return;
  }
  const a = await assets;
  const css = document.createElement("style");
  css.textContent = a.font_face;
  document.head.appendChild(css);
  for (const code of [a.bundle, a.mvt_loader, a.labels]) {
    const s = document.createElement("script");
    s.textContent = code;
    document.head.appendChild(s);
  }
  await twinStart(JSON.parse(await twinGunzip("__DATA__")));
})();
""".replace("__MISSING__", json.dumps(_MISSING))


def _packed(text: str) -> str:
    # mtime=0: the same bytes on every run, so an executed notebook is reproducible
    return base64.b64encode(gzip.compress(text.encode("utf-8"), 9, mtime=0)).decode("ascii")


@lru_cache(maxsize=1)
def _packed_assets() -> str:
    return _packed(json.dumps({"bundle": _bundle(), "mvt_loader": mvt_loader(),
                               "labels": label_placer(),
                               "font_face": style.font_face_css()}, ensure_ascii=False))


def assets_html() -> str:
    """The script that gives the notebook page ``window.twinDeckAssets`` (once per page).

    DecompressionStream is in every browser Jupyter supports (Chrome 80, Firefox 113,
    Safari 16.4); the page holds a promise, so maps drawn before decoding ends wait for it.
    """
    return ("<script>(() => {\n"
            "  if (window.twinDeckAssets) return;\n"
            f'  const b64 = "{_packed_assets()}";\n'
            "  window.twinDeckAssets = (async () => {\n"
            "    const bin = atob(b64), bytes = new Uint8Array(bin.length);\n"
            "    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);\n"
            "    const gz = new Blob([bytes]).stream().pipeThrough("
            'new DecompressionStream("gzip"));\n'
            "    return JSON.parse(await new Response(gz).text());\n"
            "  })();\n"
            "})();</script>")


# Which cell of this kernel session carries the assets. Session state of the notebook page,
# so it lives with the kernel's process rather than with any twin.
_SHIPPED: dict = {"done": False, "cell": None}


def _cell_id() -> str | None:
    """The id of the notebook cell being run, where the front end sends one (JupyterLab,
    Notebook 7 and nbclient put ``cellId`` in the execute request's metadata)."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent() if kernel is not None else {}
    except (ImportError, AttributeError, TypeError):
        return None
    return ((parent or {}).get("metadata") or {}).get("cellId")


def _ship_assets() -> bool:
    cell = _cell_id()
    if not _SHIPPED["done"] or (cell is not None and cell == _SHIPPED["cell"]):
        # Re-running the cell that carried them replaces its output: ship them again.
        _SHIPPED.update(done=True, cell=cell)
        return True
    return False


def notebook_html(deck, *, assets: bool | None = None) -> str:
    """A notebook cell's HTML for ``deck``: the map's iframe, preceded by the shared assets
    when this is the first map of the session (``assets`` forces either way)."""
    page = page_html(deck, assets="", start=_START.replace("__DATA__",
                                                           _packed(deck_json(deck))))
    frame = (f'<iframe srcdoc="{html.escape(page, quote=True)}" '
             f'style="width:100%;height:{HEIGHT_PX}px;border:0" '
             f'title="{html.escape(getattr(deck, "title", "twin map"))}"></iframe>')
    ship = _ship_assets() if assets is None else assets
    return (assets_html() + frame) if ship else frame


def show(deck, *, assets: bool | None = None) -> None:
    """Display ``deck`` in the running notebook (``assets`` as in :func:`notebook_html`)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        raise RuntimeError("show() displays a map in a notebook; outside one, write a file "
                           "with deck.to_html('map.html') (or `twin map --out map.html`)")
    if assets is None:
        display(deck)
    else:
        from IPython.display import HTML

        display(HTML(notebook_html(deck, assets=assets)))
