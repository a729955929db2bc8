"""CSV export of raw measurements (streamed) and of every metrics view's main table."""
