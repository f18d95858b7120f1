"""Forms (progressive profiling), landing pages, content assets, dynamic content, seminars."""
