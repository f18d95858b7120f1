"""Email: templates, broadcasts, sending, tracking, unsubscribe, suppression and bounces."""
