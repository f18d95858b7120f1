"""The JSON API (django-ninja): tokens, and a router per domain calling its services."""
