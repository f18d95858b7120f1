"""The JSON Schema of segment filters: the shape of the tree (docs/segments.schema.json).

Meaning — which fields exist, which operators fit them, limits — is checked by
`language.validate` against the database; the schema only fixes which keys a node may have.
"""

from __future__ import annotations

from typing import Any

COUNT_OPERATORS = ("at_least", "at_most", "exactly")


_SCALAR = {"type": ["string", "number", "boolean"]}
_WHEN = {
    "type": "object",
    "oneOf": [
        {
            "properties": {"last_days": {"type": "integer"}},
            "required": ["last_days"],
            "additionalProperties": False,
        },
        {
            "properties": {"since": {"type": "string", "format": "date"}},
            "required": ["since"],
            "additionalProperties": False,
        },
        {
            "properties": {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
            },
            "required": ["from", "to"],
            "additionalProperties": False,
        },
    ],
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://tsunagari.example/schemas/segment-filter.json",
    "title": "Tsunagari segment filter",
    "$ref": "#/$defs/node",
    "$defs": {
        "node": {
            "oneOf": [
                {"$ref": "#/$defs/and"},
                {"$ref": "#/$defs/or"},
                {"$ref": "#/$defs/not"},
                {"$ref": "#/$defs/field"},
                {"$ref": "#/$defs/activity"},
                {"$ref": "#/$defs/became"},
                {"$ref": "#/$defs/in_segment"},
            ]
        },
        "and": {
            "type": "object",
            "properties": {"and": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            "required": ["and"],
            "additionalProperties": False,
        },
        "or": {
            "type": "object",
            "properties": {
                "or": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}}
            },
            "required": ["or"],
            "additionalProperties": False,
        },
        "not": {
            "type": "object",
            "properties": {"not": {"$ref": "#/$defs/node"}},
            "required": ["not"],
            "additionalProperties": False,
        },
        "field": {
            "type": "object",
            "properties": {
                "field": {"type": "string", "minLength": 1},
                "op": {"type": "string", "minLength": 1},
                "value": {
                    "oneOf": [
                        _SCALAR,
                        {"type": "array", "items": _SCALAR},
                    ]
                },
            },
            "required": ["field", "op"],
            "additionalProperties": False,
        },
        "activity": {
            "type": "object",
            "properties": {
                "activity": {"type": "string", "minLength": 1},
                "where": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "op": {"type": "string"},
                            "value": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
                        },
                        "required": ["field", "op", "value"],
                        "additionalProperties": False,
                    },
                },
                "count": {
                    "type": "object",
                    "properties": {
                        "op": {"enum": list(COUNT_OPERATORS)},
                        "value": {"type": "integer"},
                    },
                    "required": ["op", "value"],
                    "additionalProperties": False,
                },
                "when": _WHEN,
            },
            "required": ["activity"],
            "additionalProperties": False,
        },
        "became": {
            "type": "object",
            "properties": {"became": {"type": "string"}, "when": _WHEN},
            "required": ["became"],
            "additionalProperties": False,
        },
        "in_segment": {
            "type": "object",
            "properties": {"in_segment": {"type": "integer"}},
            "required": ["in_segment"],
            "additionalProperties": False,
        },
    },
}
