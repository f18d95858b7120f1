"""The form-based builder: a filter tree to and from flat form fields, and the view model.

The browser holds no state of its own: every change posts the whole form, the server parses it
into a draft tree (tolerating incomplete conditions), applies the button's action (add, remove,
nest), and renders the tree again with the live count. Form names encode each node's position:
`n-r_0_2-op` is the operator of the third child of the first child of the root group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from tsunagari.crm.choices import LifecycleStage
from tsunagari.segments import language as lang

ROOT = "r"
CONDITION_KINDS = ("field", "activity", "became", "in_segment")


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


# --- Definition → draft (what the form shows) -------------------------------------------------


def draft_from_definition(definition: dict | None) -> dict:
    """The root group of the builder for a saved definition (a bare condition gets wrapped)."""
    if not definition:
        return {"kind": "and", "negate": False, "children": []}
    node = _draft(definition)
    if node["kind"] not in ("and", "or"):
        node = {"kind": "and", "negate": False, "children": [node]}
    return node


def _draft(node: dict) -> dict:
    negate = False
    while "not" in node and len(node) == 1:
        negate = not negate
        node = node["not"]
    kind = lang.node_kind(node)
    if kind in ("and", "or"):
        return {"kind": kind, "negate": negate, "children": [_draft(c) for c in node[kind]]}
    draft = {"kind": kind, "negate": negate}
    if kind == "field":
        value = node.get("value")
        pair = node.get("op") == "between" and isinstance(value, list) and len(value) == 2
        draft.update(
            field=node["field"],
            op=node["op"],
            value="" if pair else _value_text(value),
            values=[str(v) for v in value] if isinstance(value, list) else [str(value)],
            value2=str(value[1]) if pair else "",
        )
        if pair:
            draft["value"] = str(value[0])
    elif kind == "activity":
        where = (node.get("where") or [{}])[0]
        count = node.get("count", {"op": "at_least", "value": 1})
        draft.update(
            activity=node["activity"],
            where_field=where.get("field", ""),
            where_op=where.get("op", ""),
            where_value=_value_text(where.get("value")),
            count_op=count["op"],
            count_value=str(count["value"]),
            **_when_draft(node.get("when")),
        )
    elif kind == "became":
        draft.update(became=node["became"], **_when_draft(node.get("when")))
    elif kind == "in_segment":
        draft.update(segment=str(node["in_segment"]))
    return draft


def _when_draft(when: dict | None) -> dict:
    if not when:
        return {"when": "ever", "days": "", "date_from": "", "date_to": ""}
    if "last_days" in when:
        return {"when": "last_days", "days": str(when["last_days"]), "date_from": "", "date_to": ""}
    if "since" in when:
        return {"when": "since", "days": "", "date_from": when["since"], "date_to": ""}
    return {"when": "between", "days": "", "date_from": when["from"], "date_to": when["to"]}


# --- Form → draft ------------------------------------------------------------------------------


def draft_from_form(data: Mapping) -> dict:
    """Rebuild the draft tree from posted fields; unknown or partial input is kept as typed."""
    paths = sorted(
        {key[2:-5] for key in data if key.startswith("n-") and key.endswith("-kind")},
        key=lambda p: [int(x) if x.isdigit() else -1 for x in p.split("_")],
    )
    if ROOT not in paths:
        return {"kind": "and", "negate": False, "children": []}
    nodes: dict[str, dict] = {}
    for path in paths:
        get = _getter(data, path)
        kind = get("kind")
        node: dict[str, Any] = {"kind": kind, "negate": get("not") == "1"}
        if kind in ("and", "or"):
            node["children"] = []
        elif kind == "field":
            node.update(
                field=get("field"),
                op=get("op"),
                value=get("value"),
                values=_getlist(data, f"n-{path}-values"),
                value2=get("value2"),
            )
        elif kind == "activity":
            node.update(
                activity=get("activity"),
                where_field=get("where_field"),
                where_op=get("where_op"),
                where_value=get("where_value"),
                count_op=get("count_op") or "at_least",
                count_value=get("count_value"),
                when=get("when") or "ever",
                days=get("days"),
                date_from=get("date_from"),
                date_to=get("date_to"),
            )
        elif kind == "became":
            node.update(
                became=get("became"),
                when=get("when") or "ever",
                days=get("days"),
                date_from=get("date_from"),
                date_to=get("date_to"),
            )
        elif kind == "in_segment":
            node.update(segment=get("segment"))
        else:
            continue
        nodes[path] = node
        if path != ROOT:
            parent = nodes.get(path.rsplit("_", 1)[0])
            if parent is not None and "children" in parent:
                parent["children"].append(node)
    root = nodes.get(ROOT, {"kind": "and", "negate": False, "children": []})
    if "children" not in root:
        root = {"kind": "and", "negate": False, "children": [root]}
    return root


def _getter(data: Mapping, path: str):
    def get(name: str) -> str:
        value = data.get(f"n-{path}-{name}", "")
        return value.strip() if isinstance(value, str) else ""

    return get


def _getlist(data: Mapping, key: str) -> list[str]:
    if hasattr(data, "getlist"):
        return [v for v in data.getlist(key) if v != ""]
    value = data.get(key)
    return [value] if value else []


# --- Actions -----------------------------------------------------------------------------------


def _find(root: dict, path: str) -> tuple[dict | None, dict | None, int]:
    """The node at a form path, its parent and its index there."""
    parts = path.split("_")[1:]
    parent, node, index = None, root, -1
    for part in parts:
        if "children" not in node or not part.isdigit() or int(part) >= len(node["children"]):
            return None, None, -1
        parent, index = node, int(part)
        node = node["children"][index]
    return node, parent, index


NEW_NODES = {
    "field": lambda: {"kind": "field", "negate": False, "field": "", "op": "", "value": ""},
    "activity": lambda: {
        "kind": "activity",
        "negate": False,
        "activity": "page_view",
        "count_op": "at_least",
        "count_value": "1",
        "when": "last_days",
        "days": "30",
    },
    "became": lambda: {
        "kind": "became",
        "negate": False,
        "became": LifecycleStage.MQL.value,
        "when": "last_days",
        "days": "7",
    },
    "in_segment": lambda: {"kind": "in_segment", "negate": False, "segment": ""},
    "group": lambda: {"kind": "or", "negate": False, "children": []},
}


def apply_action(root: dict, action: str) -> dict:
    """`add-<kind>:<path>` appends to a group; `remove:<path>` drops a node."""
    verb, _sep, path = action.partition(":")
    node, parent, index = _find(root, path)
    if node is None:
        return root
    if verb == "remove" and parent is not None:
        del parent["children"][index]
    elif verb.startswith("add-") and "children" in node:
        kind = verb[4:]
        if kind in NEW_NODES and _size(root) < lang.MAX_NODES:
            node["children"].append(NEW_NODES[kind]())
    return root


def _size(node: dict) -> int:
    return 1 + sum(_size(c) for c in node.get("children", []))


# --- Draft → definition ------------------------------------------------------------------------


def _number(text: str) -> Any:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("、", ",").split(",") if part.strip()]


def definition_from_draft(root: dict) -> tuple[dict, dict[str, str]]:
    """The JSON definition of a draft, and a map from definition paths to form paths.

    The map lets validation messages (which name definition paths like `and[1].not`) appear
    beside the right condition in the builder.
    """
    paths: dict[str, str] = {}
    definition = _definition(root, ROOT, "", paths)
    return definition, paths


def _definition(node: dict, form_path: str, def_path: str, paths: dict[str, str]) -> dict:
    inner_path = f"{def_path}.not".lstrip(".") if node.get("negate") else def_path
    paths[def_path] = form_path
    paths[inner_path] = form_path
    kind = node["kind"]
    if kind in ("and", "or"):
        children = [
            _definition(child, f"{form_path}_{i}", f"{inner_path}.{kind}[{i}]".lstrip("."), paths)
            for i, child in enumerate(node["children"])
        ]
        out: dict = {kind: children}
    elif kind == "field":
        out = _field_definition(node)
    elif kind == "activity":
        out = {"activity": node.get("activity", "")}
        if node.get("where_field"):
            text = node.get("where_value", "")
            values = _split(text)
            if lang.filter_type(node["where_field"]) == lang.NUMBER:
                values = [_number(v) for v in values]
            value: Any = values[0] if len(values) == 1 else values
            out["where"] = [
                {"field": node["where_field"], "op": node.get("where_op") or "eq", "value": value}
            ]
        count_value = _number(node.get("count_value") or "1")
        out["count"] = {"op": node.get("count_op") or "at_least", "value": count_value}
        when = _when_definition(node)
        if when:
            out["when"] = when
    elif kind == "became":
        out = {"became": node.get("became", "")}
        when = _when_definition(node)
        if when:
            out["when"] = when
    else:
        segment = node.get("segment", "")
        out = {"in_segment": int(segment) if segment.isdigit() else segment}
    return {"not": out} if node.get("negate") else out


def _when_definition(node: dict) -> dict | None:
    when = node.get("when", "ever")
    if when == "last_days":
        return {"last_days": _number(node.get("days") or "")}
    if when == "since":
        return {"since": node.get("date_from", "")}
    if when == "between":
        return {"from": node.get("date_from", ""), "to": node.get("date_to", "")}
    return None


def _field_definition(node: dict) -> dict:
    key, op = node.get("field", ""), node.get("op", "")
    out: dict[str, Any] = {"field": key, "op": op}
    f = lang.all_fields().get(key)
    if f is None or not op or op in lang.NO_VALUE:
        return out
    text = node.get("value", "")
    if op in lang.PAIR_VALUE:
        pair = [text, node.get("value2", "")]
        out["value"] = [_number(v) for v in pair] if f.type == lang.NUMBER else pair
    elif op in lang.DAYS_VALUE:
        out["value"] = _number(text) if text else ""
    elif op in lang.LIST_VALUE:
        values = node.get("values") or _split(text)
        out["value"] = [_number(v) for v in values] if f.type == lang.NUMBER else values
    elif f.type == lang.NUMBER:
        out["value"] = _number(text) if text else ""
    elif op in lang.TEXT_ANY:
        values = _split(text) if "," in text or "、" in text else [text] if text else []
        out["value"] = values[0] if len(values) == 1 else values
    elif f.choices is not None and text.lstrip("-").isdigit() and _int_choices(f):
        out["value"] = int(text)
    else:
        out["value"] = text
    if out.get("value") in ("", []):
        out.pop("value")
    return out


def _int_choices(f: lang.Field) -> bool:
    return any(isinstance(v, int) for v, _label in f.choices())


# --- View model --------------------------------------------------------------------------------


@dataclass
class NodeView:
    path: str
    node: dict
    depth: int
    errors: list[str] = field(default_factory=list)
    children: list[NodeView] = field(default_factory=list)
    widget: dict = field(default_factory=dict)


def _widget(node: dict, fields: dict[str, lang.Field]) -> dict:
    """What a condition's inputs look like: operators of its field, the value input, choices."""
    if node["kind"] == "activity":
        filters = lang.activity_filters(node.get("activity", ""))
        kind = lang.filter_type(node.get("where_field", "")) if node.get("where_field") else ""
        return {
            "filters": [(name, str(lang.FILTER_LABELS.get(name, name))) for name in filters],
            "filter_ops": [
                (op, str(lang.OPERATOR_LABELS[op])) for op in lang.FILTER_OPERATORS.get(kind, ())
            ],
        }
    if node["kind"] != "field":
        return {}
    f = fields.get(node.get("field", ""))
    if f is None:
        return {"ops": [], "input": "none"}
    op = node.get("op", "")
    ops = [(o, str(lang.OPERATOR_LABELS[o])) for o in lang.OPERATORS[f.type]]
    if op not in lang.OPERATORS[f.type]:
        op = ""
    widget: dict[str, Any] = {"ops": ops, "type": f.type}
    dates = f.type in (lang.DATE, lang.DATETIME)
    if not op or op in lang.NO_VALUE:
        widget["input"] = "none"
    elif op in lang.DAYS_VALUE:
        widget["input"] = "days"
    elif op in lang.PAIR_VALUE:
        widget["input"] = "pair_date" if dates else "pair_number"
    elif dates:
        widget["input"] = "date"
    elif f.choices is not None and (op in lang.LIST_VALUE or f.type in (lang.TAGS, lang.MULTI)):
        widget["input"] = "multi"
    elif f.choices is not None:
        widget["input"] = "select"
    elif f.type == lang.NUMBER:
        widget["input"] = "number"
    else:
        widget["input"] = "text"
    if f.choices is not None:
        widget["choices"] = [(str(v), label) for v, label in f.choices()]
    return widget


def node_views(root: dict, errors: dict[str, list[str]]) -> NodeView:
    fields = lang.all_fields()

    def build(node: dict, path: str, depth: int) -> NodeView:
        view = NodeView(path, node, depth, errors.get(path, []), widget=_widget(node, fields))
        view.children = [
            build(child, f"{path}_{i}", depth + 1)
            for i, child in enumerate(node.get("children", []))
        ]
        return view

    return build(root, ROOT, 0)


def errors_by_form_path(
    problems: list[tuple[str, str]], paths: dict[str, str]
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for def_path, message in problems:
        form_path = paths.get(def_path)
        while form_path is None and def_path:
            def_path = def_path.rpartition(".")[0] if "." in def_path else ""
            form_path = paths.get(def_path)
        found.setdefault(form_path or ROOT, []).append(message)
    return found


def catalogue() -> dict:
    """Everything the builder's selects offer: fields by group, operators, activities…"""
    fields = lang.all_fields()
    groups: dict[str, list[dict]] = {}
    for f in fields.values():
        groups.setdefault(str(f.group), []).append({"key": f.key, "label": str(f.label)})
    return {
        "field_groups": sorted(groups.items(), key=lambda item: item[0]),
        "fields": fields,
        "activities": lang.activity_types(),
        "stages": [(v, str(label)) for v, label in LifecycleStage.choices],
        "count_ops": [(k, str(v)) for k, v in lang.COUNT_LABELS.items()],
        "when_choices": [
            ("ever", _("any time")),
            ("last_days", _("in the last N days")),
            ("since", _("since")),
            ("between", _("between")),
        ],
    }


def pretty(definition: dict) -> str:
    return json.dumps(definition, ensure_ascii=False, indent=2)
