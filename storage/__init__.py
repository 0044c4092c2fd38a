"""support-desk: storage."""
