"""Privacy protection: keyed pseudonyms at ingestion, differential privacy on published counts,
the privacy ledger and forgetting a user (README "Privacy")."""
