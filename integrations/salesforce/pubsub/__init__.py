"""Platform Events through Salesforce's Pub/Sub API (gRPC): the generated `eventbus.v1`
messages and the bridge's transport."""
