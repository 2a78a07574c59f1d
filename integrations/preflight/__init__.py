"""`portalctl preflight`: each vendor contract this system relies on, checked against the
configured systems (sandbox or production), one small named check at a time."""
