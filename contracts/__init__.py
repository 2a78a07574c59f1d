"""What workflows, activities, handlers and starters exchange: inputs, outputs and shared value
types. A leaf package: it imports the standard library and pydantic, nothing of ours, so the
workflow sandbox loads it once and no workflow reaches integration code through it."""
