"""Near-real-time refresh: Structured Streaming from new clickstream to refreshed user lists."""
