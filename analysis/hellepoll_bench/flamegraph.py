"""Flame graphs from `perf script` output, without Brendan Gregg's scripts.

Debian packages no flamegraph tool, so this does the two steps here:
  collapse(text)  perf script's per-sample call chains -> {"a;b;c": samples}
  render_svg(...) folded stacks -> one self-contained SVG (hover a frame for
                  its samples and share; click to zoom, click the root to reset)
  render_png(...) the same, static, through matplotlib

Frames are root first, leaf last, as in the folded format of FlameGraph's
stackcollapse-perf.pl. Kernel frames get a "_[k]" suffix and their own colour.
"""

import html
import re
import zlib
from typing import Dict, List, Optional, Tuple

# "\t ffffffff81234567 do_syscall_64+0x5c ([kernel.kallsyms])"
_FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+)\s+\(([^()]*)\)\s*$")
# "helloworld  1234 [000]  123.456:  250000 cpu-clock:" (the comm may hold spaces)
_HEADER = re.compile(r"^(\S.*?)\s+\d+(?:/\d+)?\s")
_OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def _frame_name(symbol: str, dso: str) -> str:
    symbol = _OFFSET.sub("", symbol)
    if symbol == "[unknown]":
        base = dso.rsplit("/", 1)[-1] if dso and dso != "unknown" else ""
        symbol = "[%s]" % base if base else "[unknown]"
    if "kernel.kallsyms" in dso or dso.startswith("[kernel"):
        symbol += "_[k]"
    return symbol


def collapse(text: str, include_comm: bool = True) -> Dict[str, int]:
    """Folded stacks ('root;...;leaf' -> samples) from `perf script` text."""
    stacks: Dict[str, int] = {}
    comm: Optional[str] = None
    frames: List[str] = []

    def flush():
        if comm is not None and frames:
            chain = list(reversed(frames))
            if include_comm:
                chain.insert(0, comm)
            key = ";".join(chain)
            stacks[key] = stacks.get(key, 0) + 1

    for line in text.splitlines():
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if line[0] not in " \t":
            flush()
            match = _HEADER.match(line)
            comm, frames = (match.group(1).strip() if match else line.split()[0]), []
            continue
        match = _FRAME.match(line)
        if match and comm is not None:
            frames.append(_frame_name(match.group(1), match.group(2)))
    flush()
    return stacks


def write_folded(stacks: Dict[str, int], path: str) -> None:
    with open(path, "w") as f:
        for key in sorted(stacks):
            f.write("%s %d\n" % (key, stacks[key]))


class _Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name: str):
        self.name = name
        self.value = 0
        self.children: Dict[str, "_Node"] = {}


def _tree(stacks: Dict[str, int]) -> _Node:
    root = _Node("all")
    for key, count in stacks.items():
        root.value += count
        node = root
        for name in key.split(";"):
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(name)
            child.value += count
            node = child
    return root


def _color(name: str) -> str:
    """Stable warm colours for user code, orange-brown for the kernel."""
    h = zlib.crc32(name.encode())
    if name.endswith("_[k]"):
        return "rgb(%d,%d,%d)" % (200 + h % 40, 120 + (h >> 8) % 50, 40 + (h >> 16) % 30)
    if name.startswith("hellepoll::"):
        return "rgb(%d,%d,%d)" % (220 + h % 35, 60 + (h >> 8) % 90, 40 + (h >> 16) % 30)
    return "rgb(%d,%d,%d)" % (200 + h % 55, 150 + (h >> 8) % 80, 40 + (h >> 16) % 40)


_SCRIPT = """
<script><![CDATA[
// Click a frame to zoom into it; click the bottom frame to reset.
(function () {
  var frames = [].slice.call(document.querySelectorAll("g.f"));
  var W = %(width)f, PAD = %(pad)f;
  function zoom(x0, w0, depth) {
    var scale = W / w0;
    frames.forEach(function (g) {
      var x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;
      var r = g.firstElementChild.nextElementSibling, t = r.nextElementSibling;
      var inside = x + w > x0 + 1e-9 && x < x0 + w0 - 1e-9;
      var nx = PAD + (x - x0) * scale, nw = w * scale;
      g.style.display = inside ? "" : "none";
      g.style.opacity = d < depth ? 0.5 : 1;
      r.setAttribute("x", nx); r.setAttribute("width", Math.max(nw - 0.5, 0.1));
      t.setAttribute("x", nx + 3);
      var chars = Math.floor((nw - 6) / 6.5), name = g.dataset.n;
      t.textContent = chars < 3 ? "" : (name.length > chars ? name.slice(0, chars - 2) + ".." : name);
    });
  }
  frames.forEach(function (g) {
    g.addEventListener("click", function () {
      zoom(+g.dataset.x, +g.dataset.w, +g.dataset.d);
    });
  });
})();
]]></script>
"""


def layout(stacks: Dict[str, int], inner: float,
           min_width: float) -> Tuple[List[Tuple[_Node, float, float, int]], int]:
    """(node, x, width, depth) of every frame at least min_width wide, and the total."""
    root = _tree(stacks)
    total = max(root.value, 1)
    rects: List[Tuple[_Node, float, float, int]] = []

    def walk(node: _Node, x: float, depth: int):
        w = node.value / total * inner
        if w < min_width:
            return
        rects.append((node, x, w, depth))
        cx = x
        for child in sorted(node.children.values(), key=lambda n: n.name):
            walk(child, cx, depth + 1)
            cx += child.value / total * inner

    walk(root, 0.0, 0)
    return rects, total


def _label(name: str, width_px: float, char_px: float = 6.5) -> str:
    chars = int((width_px - 6) / char_px)
    if chars < 3:
        return ""
    return name if len(name) <= chars else name[:chars - 2] + ".."


def render_svg(stacks: Dict[str, int], title: str, subtitle: str = "",
               width: int = 1200, frame_height: int = 16, min_width_px: float = 0.3) -> str:
    """A self-contained flame graph SVG of the folded stacks."""
    pad = 10.0
    inner = width - 2 * pad
    rects, total = layout(stacks, inner, min_width_px)
    max_depth = max((d for _, _, _, d in rects), default=0)
    height = 50 + (max_depth + 1) * frame_height + 30
    out = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" '
        'xmlns="http://www.w3.org/2000/svg">' % (width, height, width, height),
        '<style>text{font-family:Verdana,sans-serif;font-size:11px;fill:#000}'
        'g.f:hover rect{stroke:#000;stroke-width:0.5}g.f{cursor:pointer}</style>',
        '<rect x="0" y="0" width="%d" height="%d" fill="#fdfdf5"/>' % (width, height),
        '<text x="%d" y="20" text-anchor="middle" style="font-size:15px">%s</text>'
        % (width // 2, html.escape(title)),
        '<text x="%d" y="38" text-anchor="middle" style="fill:#555">%s</text>'
        % (width // 2, html.escape(subtitle)),
    ]
    for node, x, w, depth in rects:
        y = height - 30 - (depth + 1) * frame_height
        out.append(
            '<g class="f" data-x="%.3f" data-w="%.3f" data-d="%d" data-n="%s">'
            '<title>%s (%d samples, %.2f%%)</title>'
            '<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" rx="1"/>'
            '<text x="%.2f" y="%d">%s</text></g>'
            % (x, w, depth, html.escape(node.name, quote=True), html.escape(node.name),
               node.value, 100.0 * node.value / total, pad + x, y, max(w - 0.5, 0.1),
               frame_height - 1, _color(node.name), pad + x + 3, y + frame_height - 4,
               html.escape(_label(node.name, w))))
    out.append(_SCRIPT % {"width": inner, "pad": pad})
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_png(stacks: Dict[str, int], title: str, subtitle: str, path: str,
               width_px: int = 1400, frame_px: int = 15) -> None:
    """The same graph as a static PNG (matplotlib), for READMEs and reports."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel

    rects, _ = layout(stacks, float(width_px), 0.5)
    depth = max((d for _, _, _, d in rects), default=0) + 1
    dpi = 100
    fig = plt.figure(figsize=(width_px / dpi, (depth * frame_px + 60) / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, (depth * frame_px) / (depth * frame_px + 60)])
    ax.set_xlim(0, width_px)
    ax.set_ylim(0, depth * frame_px)
    ax.axis("off")
    for node, x, w, d in rects:
        rgb = tuple(int(v) / 255 for v in _color(node.name)[4:-1].split(","))
        ax.add_patch(matplotlib.patches.Rectangle((x, d * frame_px), w - 0.5, frame_px - 1,
                                                  facecolor=rgb, edgecolor="none"))
        label = _label(node.name, w, 6.2)
        if label:
            ax.text(x + 3, d * frame_px + frame_px / 2 - 0.5, label, fontsize=7.5,
                    va="center", ha="left", family="DejaVu Sans", clip_on=True)
    fig.text(0.5, 1 - 18 / (depth * frame_px + 60), title, ha="center", fontsize=11)
    fig.text(0.5, 1 - 38 / (depth * frame_px + 60), subtitle, ha="center", fontsize=8.5,
             color="#555")
    fig.savefig(path, dpi=dpi, facecolor="#fdfdf5")
    plt.close(fig)


def top_self(stacks: Dict[str, int], n: int = 20) -> List[Tuple[str, int]]:
    """Leaf frames by samples: where the CPU was when sampled."""
    leaves: Dict[str, int] = {}
    for key, count in stacks.items():
        leaf = key.rsplit(";", 1)[-1]
        leaves[leaf] = leaves.get(leaf, 0) + count
    return sorted(leaves.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
