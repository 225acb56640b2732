"""Item similarity across categories: content (MinHash LSH on tokens) and behaviour (co-occurrence)."""
