"""Core: errors, config schemas, hashing, array codec, ids. numpy only."""
