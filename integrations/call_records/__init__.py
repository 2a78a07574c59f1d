"""Monthly call (talk) and SMS detail records: file layout, loading and portal queries."""
