"""The deployed actors: hub and site services, the hub process, the loopback consortium."""
