"""Strict YAML reading: duplicate keys and syntax errors become one-line :class:`SpecError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from advisor.errors import SpecError


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            line = key_node.start_mark.line + 1
            raise SpecError(
                loader.name,
                None,
                f"a mapping key on line {line} is a {type(key).__name__}, not a name",
                "write keys as plain names (no '? [a, b]' keys)",
            )
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise SpecError(loader.name, str(key), f"duplicate key on line {line}", "keep only one of them")
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Read a YAML file strictly.

    Raises:
        SpecError: the file is missing, unreadable, not valid YAML or has duplicate keys.
    """
    if not path.is_file():
        raise SpecError(path, None, "file not found", "check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise SpecError(
            path, None, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {line})", "save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise SpecError(path, None, f"cannot be read ({exc.strerror})", "check the file's permissions") from None
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise SpecError(path, None, f"malformed YAML at {where}: {exc.problem}", "fix the syntax") from None
    finally:
        loader.dispose()
