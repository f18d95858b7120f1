"""`field__prefix=value`: a starts-with search that an ordinary B-tree index can serve.

Django's `startswith` is `LIKE 'x%'`, which SQLite runs as a full scan (its LIKE is
case-insensitive, so no index applies). The lookup is a range on SQLite and `LIKE` on
PostgreSQL, where Django's `varchar_pattern_ops` index serves it. Keys it is used on are
stored normalised (lower-case, NFKC), so a case-sensitive match is what we want.
"""

from __future__ import annotations

from django.db.models import CharField, Lookup

# Above every character: `key >= p AND key < p || MAX` holds exactly for keys starting with p.
_MAX_CHAR = "\U0010ffff"


@CharField.register_lookup
class Prefix(Lookup):
    lookup_name = "prefix"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        prefix = str(self.rhs)
        if connection.vendor == "postgresql":
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f"{lhs} LIKE %s", [*lhs_params, escaped + "%"]
        params = [*lhs_params, prefix, *lhs_params, prefix + _MAX_CHAR]
        return f"({lhs} >= %s AND {lhs} < %s)", params
