"""Hellepoll's benchmark testbed: run its scripts as modules from the repository root,
e.g. `/usr/bin/python3 -m analysis.reproduce --help` (./hellepoll does).
"""
