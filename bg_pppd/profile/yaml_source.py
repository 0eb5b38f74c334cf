"""YAML to plain data, remembering where each value came from.

PyYAML forgets line numbers once it builds Python objects; a profile error
must name the line, so we compose the node graph ourselves and keep a map
from key path to line. Duplicate keys, which PyYAML silently accepts, are
errors here: the second one would quietly win in the field.
"""

from __future__ import annotations

from typing import Any

from bg_pppd.util.errors import Problem, ProfileError

KeyPath = tuple[str, ...]
# A profile is a few dozen values three levels deep. The limits keep an alias bomb (a few
# hundred bytes that expand to millions of nodes) or a deep nest from costing memory or
# Python's recursion limit: both are counted as the data is built, aliases included.
MAX_NODES = 10_000
MAX_DEPTH = 20


class _TooBig(Exception):
    pass


def dotted(path: KeyPath) -> str:
    """``('ppp', 'extra_options', '0')`` -> ``ppp.extra_options[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def load(text: str, filename: str, secrets: frozenset[KeyPath] = frozenset()) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``text``; return the data and a map from key path to 1-based line.

    ``secrets``: key paths whose value no message may show, not even a character of it.
    """
    import yaml  # imported here: `status` and `down` must start fast and never parse YAML

    # libyaml's parser when PyYAML has it: the same nodes and marks, parsed in C
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        key = _key_at_error(text, loader)
        if key in {path[-1] for path in secrets}:
            # the scanner quotes the character it stumbled on: here, one of the secret's
            reason = f"in the value of {key} (the details would show a part of it)"
        raise ProfileError([Problem(filename, line, "", f"not valid YAML: {reason}")]) from None
    except RecursionError:  # PyYAML's pure-Python composer, without libyaml
        raise ProfileError([Problem(filename, None, "", f"nested too deeply (at most {MAX_DEPTH} levels)")]) \
            from None
    lines: dict[KeyPath, int] = {}
    if node is None:
        return {}, lines
    constructor = yaml.constructor.SafeConstructor()
    problems: list[Problem] = []
    budget = [MAX_NODES]
    try:
        data = _build(node, (), lines, constructor, problems, filename, budget)
    except _TooBig as exc:
        raise ProfileError([Problem(filename, *exc.args)]) from None
    if problems:
        raise ProfileError(problems)
    return data, lines


def _build(node, path, lines, constructor, problems, filename, budget) -> Any:
    import yaml

    line = node.start_mark.line + 1
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(line, dotted(path), f"holds more than {MAX_NODES} values (are aliases "
                      "repeating a list?): a profile needs a few dozen")
    if len(path) > MAX_DEPTH:
        raise _TooBig(line, dotted(path[:MAX_DEPTH]), f"nested too deeply (at most {MAX_DEPTH} levels)")
    lines.setdefault(path, line)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(filename, line, dotted(path), "keys must be plain words"))
                continue
            key = str(key_node.value)
            if key in out:
                problems.append(Problem(filename, line, dotted((*path, key)), "given twice"))
                continue
            lines[(*path, key)] = line
            out[key] = _build(value_node, (*path, key), lines, constructor, problems, filename, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            items.append(_build(item, (*path, str(index)), lines, constructor, problems, filename, budget))
        return items
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or "cannot be read"
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # an explicit tag the text does not fit (!!int "12a", !!timestamp "2001-02-30"); not
        # the exception's words: they quote the text, which may be a secret
        reason = f"reads as a YAML !!{node.tag.rsplit(':', 1)[-1]} but is not a valid one (quote text)"
    problems.append(Problem(filename, node.start_mark.line + 1, dotted(path), reason))
    return None


def _key_at_error(text: str, loader: type) -> str | None:
    """The key whose value the scanner was reading when it failed (None: not the scanner's error)."""
    import yaml

    key, last = None, None
    try:
        for token in yaml.scan(text, Loader=loader):
            if isinstance(last, yaml.KeyToken) and isinstance(token, yaml.ScalarToken):
                key = token.value
            last = token
    except yaml.YAMLError:
        return key
    return None
