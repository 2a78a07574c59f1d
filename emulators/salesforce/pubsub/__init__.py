"""The Pub/Sub API (gRPC) of the Salesforce emulator, on the same event bus as CometD."""
