"""support-desk: bot."""
