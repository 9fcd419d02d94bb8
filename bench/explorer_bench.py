"""The explorer in headless Chromium: how long its page takes to open and to answer, and how big it is.

Pages of :func:`contacts.viz.explore`, written by ``write_html`` with a local 3Dmol.js and
opened offline (every request that is not ``file:``, ``data:`` or ``blob:`` is blocked):

- L = 129: lysozyme (1aki), with a 33 x 20 head grid (ESM-1b's shape);
- L = 1022: the first 1022 residues of 4JSV chain B (1058 observed), 33 x 20 heads;
- L = 3000: a windowed prediction (NaN where no 1022-residue window holds both residues), no
  structure, the sequence on the axes: drawn pooled, full resolution after zooming in.

The prediction is synthetic (a share of the true contacts plus noise, so the marked pairs
hold hits and misses) and so are the attention maps (random rows, a few heads leaning on
the contacts, made a layer at a time): the page's size and speed depend on L, the grid and
the structure, not on what a model predicted.

Steps, timed from Python through playwright (wall clock, median over ``--repeat`` fresh pages):
open (from navigation until the map and the 3D view are drawn, by the page's clock), hover (the mouse onto a cell until
the tooltip names it), click (a cell until the pair is labelled in 3D), head (a grid cell until
the map shows that head), zoom (L = 3000: a 200-cell window until redrawn). The reference, in
the same run and browser: the page ``show_contacts`` writes for the same structure and top-L
pairs (py3Dmol, the same 3Dmol.js, a panel of the same size) until drawn; its ratio says what the
map, the grid and the links cost on top of the 3D view whatever the machine's load. Written into
docs/viewer.md (section ``explorer-bench``) with docs/screenshot_explorer.png.

    python bench/explorer_bench.py            # about 3 min on 2 busy CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "viz"))

from docs_section import write_section  # noqa: E402
from test_browser import BROWSER_FLAGS, DEFAULT_JS  # noqa: E402

#: The page's JavaScript handle (docs/viewer.md).
HANDLE = "document.querySelector('.contacts-explorer').contactsExplorer"
#: ESM-1b's attention grid.
LAYERS, HEADS = 33, 20


# --------------------------------------------------------------------------- synthetic data


def synthetic_prediction(labels: np.ndarray, seed: int = 0, signal: float = 0.25) -> np.ndarray:
    """Probabilities: ``signal`` x the true contacts + noise, symmetric, float32 (hits and misses in the top L)."""
    rng = np.random.default_rng(seed)
    noise = rng.random(labels.shape)
    return (signal * np.nan_to_num(labels) + (1 - signal) * (noise + noise.T) / 2).astype(np.float32)


class SyntheticMaps:
    """Attention maps ``(layers, heads, L, L)`` made one layer at a time (33 x 20 at L = 1022 is 2.8 GB at once).

    Rows are random (about 1/L each); head ``h`` of layer ``l`` adds ``a / L`` on each of the row's true
    contacts, with ``a`` from 0 to 1.2 by ``(3 l + 7 h) % 13``, so heads range from chance to good.
    """

    def __init__(self, labels: np.ndarray, layers: int = LAYERS, heads: int = HEADS, seed: int = 0):
        self.contacts = np.nan_to_num(labels).astype(np.float32)
        self.shape = (layers, heads, *labels.shape)
        self.seed = seed
        self.seconds = 0.0  # spent making layers: not the explorer's time

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, layer: int) -> np.ndarray:
        layers, heads, n, _ = self.shape
        if not 0 <= layer < layers:
            raise IndexError(layer)
        start = time.perf_counter()
        rng = np.random.default_rng((self.seed, layer))
        rows = rng.random((heads, n, n), dtype=np.float32)
        rows /= rows.sum(-1, keepdims=True)
        strength = ((3 * layer + 7 * np.arange(heads)) % 13 / 10).astype(np.float32).reshape(-1, 1, 1)
        rows += strength / n * self.contacts
        self.seconds += time.perf_counter() - start
        return rows


def windowed_prediction(n: int, window: int = 1022, seed: int = 0) -> np.ndarray:
    """A long prediction as windows leave it: NaN where no window holds both residues."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, n), dtype=np.float32) ** 4
    values = (values + values.T) / 2
    far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= window
    values[far] = np.nan
    return values


# --------------------------------------------------------------------------- driving the page


def launch(playwright, chromium: str):
    return playwright.chromium.launch(executable_path=chromium, args=BROWSER_FLAGS)


def offline_page(browser, viewport=(1400, 1000)):
    """A new page whose every request but ``file:``, ``data:`` and ``blob:`` is blocked, and the list of those."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page, blocked


def wait_ready(page) -> dict:
    """Wait for the explorer on the page to be drawn; its state."""
    # polled by a timer, not by animation frames: those wait for the compositor, slow with software WebGL
    page.wait_for_function("() => document.querySelector('.contacts-explorer[data-contacts-explorer=ready]')",
                           timeout=60_000, polling=50)
    return page.evaluate(f"{HANDLE}.state()")


def open_page(browser, path: Path, *, viewport=(1400, 1000)):
    """Open a saved page offline; returns (page, seconds from navigation until drawn, state, blocked URLs).

    The seconds are the page's own clock (``performance.now()``, from navigation) when the
    explorer is seen ready, within the 50 ms polling step.
    """
    page, blocked = offline_page(browser, viewport)
    page.goto(path.as_uri())
    state = wait_ready(page)
    return page, page.evaluate("performance.now()") / 1000, state, blocked


def hover(page, i: int, j: int) -> tuple[float, str]:
    """Move the mouse onto cell (row i, column j); seconds until the tooltip shows it, and its text."""
    point = page.evaluate(f"{HANDLE}.cellCenter({i}, {j})")
    start = time.perf_counter()
    page.mouse.move(point["x"], point["y"])
    text = page.evaluate(f"{HANDLE}.state().tooltip")
    return time.perf_counter() - start, text


def click(page, i: int, j: int) -> tuple[float, dict]:
    """Click cell (row i, column j); seconds until the pair is selected and labelled in 3D, and the state."""
    point = page.evaluate(f"{HANDLE}.cellCenter({i}, {j})")
    start = time.perf_counter()
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function(f"() => {{ const s = {HANDLE}.state(); return s.pair && s.pair[0] === {min(i, j)} "
                           f"&& s.pair[1] === {max(i, j)} && (!{HANDLE}.viewer || {HANDLE}.viewer.labels.length >= 2); }}")
    seconds = time.perf_counter() - start
    return seconds, page.evaluate(f"{HANDLE}.state()")


def switch_head(page, layer: int, head: int) -> tuple[float, str, str]:
    """Click a head in the grid; seconds until the map shows it, and the map's digest before and after."""
    before = page.evaluate(f"{HANDLE}.mapDigest()")
    point = page.evaluate(f"{HANDLE}.headCenter({layer}, {head})")
    start = time.perf_counter()
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function(f"() => {HANDLE}.state().map === '{layer},{head}'")
    seconds = time.perf_counter() - start
    return seconds, before, page.evaluate(f"{HANDLE}.mapDigest()")


def open_reference(browser, path: Path) -> float:
    """Seconds until the page of :func:`contacts.viz.viewer.show_contacts` has drawn its molecule and pairs."""
    text = path.read_text()
    name = re.search(r"var (viewer_\w+) = null;", text).group(1)
    pairs = text.count(".addCylinder(")
    page, blocked = offline_page(browser)
    page.goto(path.as_uri())
    # py3Dmol adds the model, the cylinders and renders in one callback: once they are there, it has drawn
    page.wait_for_function(f"() => window.{name} && window.{name}.shapes.length >= {pairs}", timeout=60_000,
                           polling=50)
    seconds = page.evaluate("performance.now()") / 1000  # as open_page measures the explorer
    page.close()
    if blocked:
        raise RuntimeError(f"the reference page asked the network for {blocked}")
    return seconds


def zoom(page, x0: int, y0: int, w: int) -> tuple[float, dict]:
    start = time.perf_counter()
    state = page.evaluate(f"{HANDLE}.zoom({x0}, {y0}, {w})")
    return time.perf_counter() - start, state


# --------------------------------------------------------------------------- the pages


def build_pages(out: Path, shared: Path, js: Path, layers: int = LAYERS, heads: int = HEADS) -> dict[str, dict]:
    """Write the three pages; per page its path, the explorer and the seconds ``explore`` + ``write_html`` took."""
    import contacts
    from contacts.viz.explorer import explore
    from contacts.viz.viewer import show_contacts

    pages = {}
    one = contacts.load_structure(shared / "structures" / "1aki.cif")
    long_chain = contacts.load_structure(shared / "structures" / "4JSV.pdb")
    cases = [("L=129", one, None), ("L=1022", long_chain, long_chain.sequence[:1022])]
    for name, structure, sequence in cases:
        labels = contacts.contact_map(structure, sequence=sequence)
        maps = SyntheticMaps(labels, layers, heads)
        start = time.perf_counter()
        explorer = explore(structure, synthetic_prediction(labels), maps=maps,
                           sequence=sequence, js=js, title=f"{Path(structure.source).name}, {name}")
        built, making = time.perf_counter() - start, maps.seconds
        path = explorer.write_html(out / f"explorer_{name[2:]}.html")
        pages[name] = {"path": path, "explorer": explorer, "explore_s": built - making,
                       "html_s": time.perf_counter() - start - built - (maps.seconds - making)}
        view = show_contacts(structure, explorer.prediction, sequence=sequence, js=js, width=explorer.size,
                             height=explorer.size)
        view.write_html(str(out / f"show_contacts_{name[2:]}.html"))
        pages[name]["reference"] = out / f"show_contacts_{name[2:]}.html"
    n = 3000
    sequence = "".join(np.random.default_rng(0).choice(list("ACDEFGHIKLMNPQRSTVWY"), n))
    start = time.perf_counter()
    explorer = explore(None, windowed_prediction(n), sequence=sequence, js=js, title="windowed prediction: L=3000")
    built = time.perf_counter() - start
    path = explorer.write_html(out / "explorer_3000.html")
    pages["L=3000"] = {"path": path, "explorer": explorer, "explore_s": built,
                       "html_s": time.perf_counter() - start - built}
    return pages


def measure(browser, page_info: dict, repeat: int) -> dict:
    """Median seconds of each step over ``repeat`` fresh pages, and the in-page breakdown of the last open."""
    explorer = page_info["explorer"]
    pairs = explorer.pairs()
    i, j = int(pairs.i[0]), int(pairs.j[0])
    steps: dict[str, list[float]] = {"open": [], "hover": [], "click": []}
    if explorer.heads:
        steps["head"] = []
    if explorer.structure is None:
        steps["zoom"] = []
    if "reference" in page_info:
        steps["show_contacts"] = []
    state = {}
    for _ in range(repeat):
        if "reference" in page_info:
            steps["show_contacts"].append(open_reference(browser, page_info["reference"]))
        page, seconds, state, blocked = open_page(browser, page_info["path"])
        if blocked:
            raise RuntimeError(f"the page asked the network for {blocked}")
        steps["open"].append(seconds)
        steps["hover"].append(hover(page, i, j)[0])
        steps["click"].append(click(page, i, j)[0])
        if "head" in steps:
            layer, head = explorer.best_heads(1)[0]
            steps["head"].append(switch_head(page, layer, head)[0])
        if "zoom" in steps:
            steps["zoom"].append(zoom(page, 1000, 1000, 200)[0])
        page.close()
    return {"steps": {k: statistics.median(v) for k, v in steps.items()}, "timings": state.get("timings"),
            "render": state.get("render")}


def screenshot(browser, page_info: dict, png: Path) -> None:
    """A page with its best-scored hit selected: circled on the map, labelled and centred in 3D."""
    page, _, state, _ = open_page(browser, page_info["path"], viewport=(1440, 820))
    i, j = next(p for p in state["pairs"] if p[2] == "hit" and p[1] - p[0] >= 24)[:2]
    page.evaluate(f"{HANDLE}.select({i}, {j})")
    page.mouse.move(*(page.evaluate(f"{HANDLE}.cellCenter({i}, {j})")[k] for k in "xy"))  # its tooltip
    page.screenshot(path=str(png))
    page.close()


def table(pages: dict, results: dict, load: tuple[str, str]) -> str:
    lines = [
        "| page | L | head grid | page size | explore + write_html | open | 3D view alone (show_contacts) "
        "| hover | click | head switch | zoom |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, info in pages.items():
        x, r = info["explorer"], results[name]["steps"]
        grid = f"{x.layers} x {x.heads}" if x.heads else "none"
        size = info["path"].stat().st_size / 1e6

        ms = {key: f"{1000 * r[key]:.0f} ms" if key in r else "-"
              for key in ("open", "show_contacts", "hover", "click", "head", "zoom")}
        if "show_contacts" in r:
            ms["show_contacts"] += f" (open / this: {r['open'] / r['show_contacts']:.2f})"
        lines.append(f"| {info['path'].name} | {len(x)} | {grid} | {size:.2f} MB | "
                     f"{info['explore_s']:.1f} s + {info['html_s']:.1f} s | {ms['open']} | {ms['show_contacts']} | "
                     f"{ms['hover']} | {ms['click']} | {ms['head']} | {ms['zoom']} |")
    breakdown = "; ".join(
        f"{name}: script starts {t['start']:.0f} ms after navigation, decode {t['decode']:.0f} ms, map "
        f"{t['map']:.0f} ms (interactive at {t['start'] + t['decode'] + t['map']:.0f} ms), 3D {t['structure']:.0f} ms"
        for name, t in ((n, results[n]["timings"]) for n in pages) if t)
    return "\n".join([
        *lines, "",
        "explore + write_html: the explorer's own seconds (making the synthetic maps left out), in Python.",
        "",
        f"Inside the page (last open): {breakdown}. The L = 3000 map is drawn at "
        f"{results['L=3000']['render']['pooling']:.2f} cells a pixel until zoomed in (then one cell a pixel or more).",
        "",
        f"Measured by `python bench/explorer_bench.py` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, load average {load[0]} at the start and {load[1]} at the end; headless Chromium with software WebGL "
        "(SwiftShader): a browser with a GPU draws the 3D view faster). Median of the repeats; "
        "open = navigation until map and 3D view are drawn.",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"), type=Path)
    parser.add_argument("--js", default=os.environ.get("CONTACTS_3DMOL_JS", DEFAULT_JS), type=Path)
    parser.add_argument("--chromium", default=os.environ.get("CONTACTS_CHROMIUM") or shutil.which("chromium"))
    parser.add_argument("--out", type=Path, help="where the pages go (default: a new temporary folder)")
    parser.add_argument("--doc", default=REPO / "docs" / "viewer.md", type=Path)
    parser.add_argument("--screenshot", default=REPO / "docs" / "screenshot_explorer.png", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.chromium is None or not args.js.is_file():
        raise SystemExit(f"needs chromium ({args.chromium}) and a local 3Dmol.js ({args.js}): see .ci/run")

    from playwright.sync_api import sync_playwright

    before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    args.out = args.out or Path(tempfile.mkdtemp(prefix="explorer_bench_"))
    args.out.mkdir(parents=True, exist_ok=True)
    pages = build_pages(args.out, args.shared, args.js)
    results = {}
    with sync_playwright() as playwright:
        browser = launch(playwright, args.chromium)
        for name, info in pages.items():
            results[name] = measure(browser, info, args.repeat)
            print(name, json.dumps(results[name]["steps"]), flush=True)
        screenshot(browser, pages["L=129"], args.screenshot)
        browser.close()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    write_section(args.doc, "explorer-bench", table(pages, results, (before, load)))
    if args.json:
        args.json.write_text(json.dumps({name: {**results[name], "bytes": pages[name]["path"].stat().st_size}
                                         for name in pages}, indent=1))
    print(f"wrote {args.doc} and {args.screenshot} (pages in {args.out}); load average {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
