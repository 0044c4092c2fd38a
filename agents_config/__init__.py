"""support-desk: agents_config."""
