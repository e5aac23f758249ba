"""Our variants, read from variants/variants.bzl: the one list Bazel builds from.

variants.bzl assigns AXES (each axis with its values, in order), HELLOWORLD
(the variant served as `helloworld`), TITLES (how tables name a value), SHOWS
and FLOORS (each floor binary and the variant whose axis values it shares) as
literals; ast.literal_eval reads them without running Starlark. The order
tables and graphs show: helloworld, every combination in AXES order (the
first axis varies slowest, as in the macro), then the floors in FLOORS' order
(no HTTP parsing: `floor` on epoll, `uring_floor` on io_uring).
"""

import ast
import itertools
import os
from typing import Dict, List, NamedTuple, Optional, Tuple


def bzl_path(root: Optional[str] = None) -> str:
    root = root or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, "variants", "variants.bzl")


class Declared(NamedTuple):
    axes: List[Tuple[str, List[str]]]  # (axis, its values in order)
    helloworld: str  # e.g. "lt_writev_procs"
    titles: Dict[str, Dict[str, str]]  # axis -> value -> title
    shows: Dict[str, Dict[str, str]] = {}  # axis -> value -> what a variant's cost shows
    # floor binary -> the variant whose axis values it shares (floor.cc's fixed policies)
    floors: Dict[str, str] = {"floor": "lt_write_procs"}

    def combinations(self) -> List[str]:
        return ["_".join(c) for c in itertools.product(*(values for _, values in self.axes))]

    def names(self) -> List[str]:
        """Every variant binary, in display order."""
        return ["helloworld"] + self.combinations() + list(self.floors)

    def axis_values(self, name: str) -> List[str]:
        """The axis values of a combination (helloworld: HELLOWORLD's; a floor: FLOORS')."""
        if name == "helloworld":
            return self.helloworld.split("_")
        return self.floors.get(name, name).split("_")

    def with_value(self, axis: str, value: str) -> List[str]:
        """The combinations that take `value` on `axis` (e.g. trigger "uring")."""
        i = [a for a, _ in self.axes].index(axis)
        return [n for n in self.combinations() if n.split("_")[i] == value]

    def title(self, axis: str, value: str) -> str:
        return self.titles.get(axis, {}).get(value, value)

    def what_it_shows(self, values: List[str]) -> str:
        """SHOWS' text for the first axis value that has one, else ""."""
        for (axis, _), value in zip(self.axes, values):
            text = self.shows.get(axis, {}).get(value)
            if text:
                return text
        return ""


def read(path: Optional[str] = None) -> Declared:
    """Parses the literal assignments of variants.bzl; ValueError when one is missing."""
    path = path or bzl_path()
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("AXES", "HELLOWORLD", "TITLES", "SHOWS", "FLOORS")):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    missing = [k for k in ("AXES", "HELLOWORLD") if k not in found]
    if missing:
        raise ValueError("%s assigns no %s" % (path, " or ".join(missing)))
    axes = [(axis, list(policies)) for axis, policies in found["AXES"]]
    for axis, values in axes:
        for value in values:
            if "_" in value:
                raise ValueError("%s: axis value %r of %s contains '_' (names are values joined by '_')"
                                 % (path, value, axis))
    declared = Declared(axes, found["HELLOWORLD"], found.get("TITLES", {}), found.get("SHOWS", {}),
                        found.get("FLOORS", {"floor": "lt_write_procs"}))
    if declared.helloworld not in declared.combinations():
        raise ValueError("%s: HELLOWORLD %r is no combination of AXES" % (path, declared.helloworld))
    for floor, shares in declared.floors.items():
        if shares not in declared.combinations():
            raise ValueError("%s: FLOORS[%r] = %r is no combination of AXES" % (path, floor, shares))
    return declared


# The repository's variants, read once on import.
DECLARED = read()
VARIANTS = tuple(DECLARED.names())
