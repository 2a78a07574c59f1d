"""The secret store: versioned, encrypted vendor credentials that the clients read through a
provider, so a rotated credential is used without a restart (see docs/credential-rotation.md)."""
