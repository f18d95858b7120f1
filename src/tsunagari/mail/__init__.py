"""Email: templates, broadcasts, the sending pipeline, tracking, unsubscribe, suppression, bounces."""
