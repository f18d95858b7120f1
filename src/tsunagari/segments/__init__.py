"""Segments: a JSON filter language compiled to one SQL query; dynamic and static lists."""
