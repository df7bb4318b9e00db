"""Federated learning: strategies, aggregation, hub round loop, site runtime, transport."""
