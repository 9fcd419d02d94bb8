"""A view rendered in a real browser: headless Chromium, a local 3Dmol.js, a screenshot checked for the molecule.

Needs Debian's ``chromium`` (or ``$CONTACTS_CHROMIUM``) and a local ``3Dmol-min.js``
(``$CONTACTS_3DMOL_JS``, else ``.ci/node/node_modules/3dmol/build/3Dmol-min.js`` as
``.ci/run`` installs it). Skipped when either is missing, except in CI (``CI=true``),
where that is a failure.

The check: enough non-background pixels, many distinct shades inside the drawn
region (a lit 3D surface, not a flat box), and pixels in the colors of the drawn
pairs. Three negative controls go through the same check and must fail it: the
same page with an empty viewer (3Dmol.js loaded, no molecule), the page with
3Dmol.js not loading, and flat boxes in the pair and cartoon colors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from contacts.viz.pairs import PAIR_COLORS
from contacts.viz.viewer import JS_ENV

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JS = REPO / ".ci" / "node" / "node_modules" / "3dmol" / "build" / "3Dmol-min.js"
WIDTH, HEIGHT = 640, 480
# Flags that draw here: software WebGL (SwiftShader) must be opted into explicitly. BROWSER_FLAGS serve any
# headless session (playwright's too: bench/explorer_bench.py); the rest are for one-shot screenshots.
BROWSER_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]
CHROMIUM_FLAGS = ["--headless", *BROWSER_FLAGS, "--virtual-time-budget=10000", f"--window-size={WIDTH},{HEIGHT}"]


def _missing(what: str):
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{what} (CI=true: .ci/run installs it, so this is a failure, not a skip)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = os.environ.get("CONTACTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _missing("headless browser not found: apt-get install chromium (or set CONTACTS_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def local_js() -> Path:
    path = Path(os.environ.get(JS_ENV) or DEFAULT_JS)
    if not path.is_file():
        _missing(f"local 3Dmol.js not found at {path}: npm install --prefix .ci/node 3dmol (or set {JS_ENV})")
    return path


def screenshot(chromium: str, html: Path, png: Path) -> np.ndarray:
    """Render a page and return its pixels, shape (H, W, 3), floats in [0, 1]."""
    import matplotlib.image

    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", html.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert png.is_file(), f"chromium wrote no screenshot (exit {run.returncode}): {run.stderr[-2000:]}"
    return matplotlib.image.imread(png)[..., :3]


def drawn(pixels: np.ndarray, pair_colors: list[str]) -> dict[str, float]:
    """Numbers that tell a drawn molecule from a blank or broken page."""
    from matplotlib.colors import to_rgb

    background = pixels[0, 0]
    ink = np.abs(pixels - background).max(axis=-1) > 0.06
    stats = {"ink": float(ink.mean()), "shades": 0.0, "pair_pixels": 0.0}
    if ink.any():
        rows, cols = np.nonzero(ink)
        box = pixels[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
        quantized = np.round(box.reshape(-1, 3) * 31).astype(int)
        stats["shades"] = float(len(np.unique(quantized, axis=0)))
    from matplotlib.colors import rgb_to_hsv

    hsv = rgb_to_hsv(np.clip(pixels, 0, 1))
    near = np.zeros(ink.shape, bool)
    for color in pair_colors:
        # lit, half-transparent cylinders vary in brightness and saturation, not in hue
        hue = rgb_to_hsv(np.array(to_rgb(color)))[0]
        distance = np.abs((hsv[..., 0] - hue + 0.5) % 1.0 - 0.5)
        near |= (distance < 0.04) & (hsv[..., 1] > 0.3) & (hsv[..., 2] > 0.15)
    stats["pair_pixels"] = float(near.mean())
    return stats


def looks_drawn(stats: dict[str, float]) -> bool:
    return stats["ink"] > 0.03 and stats["shades"] > 200 and stats["pair_pixels"] > 0.002


def _structure():
    """Lysozyme (1aki) from the shared structures; a synthetic helix where they are absent."""
    from conftest import shared_dir
    from test_viewer import make_structure

    import contacts

    root = shared_dir()
    if root is not None and (root / "structures" / "1aki.cif").is_file():
        return contacts.load_structure(root / "structures" / "1aki.cif")
    return make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK" * 3)


@pytest.fixture(scope="module")
def pages(tmp_path_factory, local_js):
    import py3Dmol

    import contacts
    from contacts.viz.viewer import resolve_3dmol_js, show_contacts

    out = tmp_path_factory.mktemp("browser")
    s = _structure()
    labels = contacts.contact_map(s)
    rng = np.random.default_rng(0)
    noise = rng.random(labels.shape)
    pred = 0.5 * np.nan_to_num(labels) + 0.5 * (noise + noise.T) / 2  # hits and misses both drawn
    view = show_contacts(s, pred, js=local_js, width=WIDTH, height=HEIGHT)
    view.write_html(str(out / "view.html"))
    empty = py3Dmol.view(width=WIDTH, height=HEIGHT, js=resolve_3dmol_js(local_js))
    empty.write_html(str(out / "empty.html"))
    broken = py3Dmol.view(width=WIDTH, height=HEIGHT, js=(out / "no-such-3Dmol.js").as_uri())
    broken.addModel("", "pdb")
    broken.write_html(str(out / "broken.html"))
    # flat boxes in the pair and cartoon colors: ink and pair hues, but not a lit 3D surface
    (out / "flat.html").write_text(
        f'<html><body style="margin:0;background:white"><div style="margin:80px;width:300px;height:150px;'
        f'background:{PAIR_COLORS["hit"]}"></div><div style="margin:80px;width:300px;height:60px;'
        f'background:#d0d0d0"></div></body></html>'
    )
    kinds = sorted({c["pair"][3] for c in view.contact_cylinders})
    return out, [PAIR_COLORS[k] for k in kinds]


def test_view_renders_the_molecule_in_headless_chromium(chromium, pages):
    out, colors = pages
    pixels = screenshot(chromium, out / "view.html", out / "view.png")
    stats = drawn(pixels, colors)
    keep = os.environ.get("CONTACTS_BROWSER_SCREENSHOT")
    if keep:  # bench/make_figures.py and people debugging look at the picture itself
        shutil.copy(out / "view.png", keep)
    assert looks_drawn(stats), f"no molecule in the screenshot {out / 'view.png'}: {stats}"


@pytest.mark.parametrize("page", ["empty", "broken", "flat"])
def test_check_rejects_pages_without_a_molecule(chromium, pages, page):
    out, colors = pages
    pixels = screenshot(chromium, out / f"{page}.html", out / f"{page}.png")
    stats = drawn(pixels, colors)
    assert not looks_drawn(stats), f"the {page} page passes the check: {stats}"
